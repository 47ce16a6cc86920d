"""A SageMaker Pipelines interpreter for the definition the stack deployed.

It follows the documented pipeline-definition semantics the stack relies on: typed parameters with
per-execution overrides, ``Get`` of parameters, execution variables and step properties,
``Std:Join``, ``Std:JsonGet`` on property files, Condition steps with If/Else branches, Fail steps
with their message, and retry policies. Steps run when the steps they reference have succeeded.
What a step *does* is delegated to a runner per step type (``rehearsal/jobs.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

PARAMETER_TYPES: dict[str, Callable[[Any], Any]] = {
    "String": str,
    "Integer": int,
    "Float": float,
    "Boolean": lambda v: str(v).lower() == "true",
}


class PipelineFailed(RuntimeError):
    """The execution failed; ``step`` is the failing step's name."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step, self.message = step, message


class StepError(RuntimeError):
    """A step's job failed with one of SageMaker's exception types (retried when a policy lists it)."""

    def __init__(self, exception_type: str, message: str) -> None:
        super().__init__(f"{exception_type}: {message}")
        self.exception_type = exception_type


class Runner(Protocol):
    def __call__(self, step: dict, arguments: dict, execution: Execution) -> dict: ...


@dataclass
class StepRecord:
    name: str
    type: str
    status: str = "Executing"
    seconds: float = 0.0
    attempts: int = 0
    detail: str = ""


@dataclass
class Execution:
    """One pipeline execution: its parameters, the properties of finished steps, and its log."""

    definition: dict
    execution_id: str
    parameters: dict[str, Any]
    runners: dict[str, Runner]
    on_step: Callable[[StepRecord], None] = lambda record: None
    properties: dict[str, dict] = field(default_factory=dict)
    property_files: dict[str, dict[str, Any]] = field(default_factory=dict)
    records: list[StepRecord] = field(default_factory=list)
    sleep: Callable[[float], None] = lambda seconds: None

    @classmethod
    def start(
        cls,
        definition: dict,
        *,
        execution_id: str,
        overrides: dict[str, Any] | None = None,
        runners: dict[str, Runner],
        **kwargs,
    ) -> Execution:
        declared = {p["Name"]: p for p in definition.get("Parameters", [])}
        unknown = sorted(set(overrides or {}) - set(declared))
        if unknown:
            raise ValueError(
                f"StartPipelineExecution: unknown parameters {unknown}; the pipeline declares {sorted(declared)}"
            )
        values = {}
        for name, parameter in declared.items():
            value = (overrides or {}).get(name, parameter.get("DefaultValue"))
            if value is None:
                raise ValueError(f"parameter {name} has no default and no value was given")
            values[name] = PARAMETER_TYPES[parameter.get("Type", "String")](value)
        return cls(definition, execution_id, values, runners, **kwargs)

    # ---- running --------------------------------------------------------------------------------------
    def run(self) -> list[StepRecord]:
        """Run every top-level step in dependency order; raises PipelineFailed on the first failure."""
        for step in self._ordered(self.definition["Steps"]):
            self._run_step(step)
        return self.records

    def _ordered(self, steps: list[dict]) -> list[dict]:
        by_name = {step["Name"]: step for step in steps}
        ordered, seen = [], set()

        def visit(step: dict) -> None:
            if step["Name"] in seen:
                return
            seen.add(step["Name"])
            for needed in sorted(step_references(step) | set(step.get("DependsOn", []))):
                if needed in by_name:
                    visit(by_name[needed])
            ordered.append(step)

        for step in steps:
            visit(step)
        return ordered

    def _run_step(self, step: dict) -> None:
        record = StepRecord(step["Name"], step["Type"])
        self.records.append(record)
        started = time.perf_counter()
        branch: list[dict] = []
        try:
            if step["Type"] == "Condition":
                branch = self._condition(step, record)
            elif step["Type"] == "Fail":
                message = str(self.value(step["Arguments"].get("ErrorMessage", "")))
                record.status, record.detail = "Failed", message
                raise PipelineFailed(step["Name"], message)
            else:
                self.properties[step["Name"]] = self._with_retries(step, record)
                record.status = "Succeeded"
        except PipelineFailed:
            record.status = "Failed"
            raise
        except StepError as error:
            record.status, record.detail = "Failed", str(error)
            raise PipelineFailed(step["Name"], str(error)) from error
        finally:
            record.seconds = time.perf_counter() - started
            self.on_step(record)
        # A branch is a DAG of its own: a step may need another step of the same branch.
        for branch_step in self._ordered(branch):
            self._run_step(branch_step)

    def _with_retries(self, step: dict, record: StepRecord) -> dict:
        runner = self.runners.get(step["Type"])
        if runner is None:
            raise StepError("Step.UNSUPPORTED", f"the rehearsal has no runner for {step['Type']} steps")
        arguments = self.value(step["Arguments"])
        while True:
            record.attempts += 1
            try:
                return runner(step, arguments, self)
            except StepError as error:
                policy = _matching_policy(step.get("RetryPolicies", []), error.exception_type)
                if policy is None or record.attempts >= policy.get("MaxAttempts", 1):
                    raise
                record.detail = f"retried after {error.exception_type}"
                self.sleep(policy.get("IntervalSeconds", 1) * policy.get("BackoffRate", 1.0) ** (record.attempts - 1))

    def _condition(self, step: dict, record: StepRecord) -> list[dict]:
        """Evaluate the conditions (all must hold); returns the branch to run next."""
        arguments = step["Arguments"]
        outcome = all(self.condition(condition) for condition in arguments["Conditions"])
        record.status, record.detail = "Succeeded", f"outcome={str(outcome).lower()}"
        self.properties[step["Name"]] = {"Outcome": outcome}
        return arguments["IfSteps" if outcome else "ElseSteps"]

    # ---- expressions ----------------------------------------------------------------------------------
    def condition(self, condition: dict) -> bool:
        kind = condition["Type"]
        if kind == "Not":
            return not self.condition(condition["Expression"])
        if kind == "Or":
            return any(self.condition(inner) for inner in condition["Conditions"])
        if kind == "In":
            return self.value(condition["QueryValue"]) in [self.value(v) for v in condition["Values"]]
        left, right = self.value(condition["LeftValue"]), self.value(condition["RightValue"])
        compare = {
            "Equals": lambda a, b: a == b,
            "GreaterThan": lambda a, b: a > b,
            "GreaterThanOrEqualTo": lambda a, b: a >= b,
            "LessThan": lambda a, b: a < b,
            "LessThanOrEqualTo": lambda a, b: a <= b,
        }[kind]
        if isinstance(left, (int, float)) or isinstance(right, (int, float)):
            left, right = float(left), float(right)
        return compare(left, right)

    def value(self, value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"Get"}:
                return self.get(value["Get"])
            if set(value) == {"Std:Join"}:
                join = value["Std:Join"]
                return join["On"].join(str(self.value(item)) for item in join["Values"])
            if set(value) == {"Std:JsonGet"}:
                return self.json_get(value["Std:JsonGet"])
            return {key: self.value(inner) for key, inner in value.items()}
        if isinstance(value, list):
            return [self.value(inner) for inner in value]
        return value

    def get(self, reference: str) -> Any:
        root, _, rest = reference.partition(".")
        if root == "Parameters":
            return self.parameters[rest]
        if root == "Execution":
            return {"PipelineExecutionId": self.execution_id, "PipelineExecutionArn": f"execution/{self.execution_id}"}[
                rest
            ]
        if root == "Steps":
            step, _, path = rest.partition(".")
            if step not in self.properties:
                raise StepError("Step.DEPENDENCY", f"{reference}: step {step} has not succeeded")
            return _walk(self.properties[step], path)
        raise ValueError(f"unsupported Get {reference!r}")

    def json_get(self, spec: dict) -> Any:
        reference = spec["PropertyFile"]["Get"]  # Steps.<step>.PropertyFiles.<name>
        _, step, _, name = reference.split(".", 3)
        document = self.property_files.get(step, {}).get(name)
        if document is None:
            raise StepError("Step.PROPERTY_FILE", f"{reference}: no such property file")
        return _walk(document, spec["Path"])


def step_references(step: dict) -> set[str]:
    """Names of the steps ``step`` reads from (``Get: Steps.<name>...``), nested branches included."""
    found: set[str] = set()

    def scan(value: Any) -> None:
        if isinstance(value, dict):
            if set(value) == {"Get"} and str(value["Get"]).startswith("Steps."):
                found.add(value["Get"].split(".")[1])
            for inner in value.values():
                scan(inner)
        elif isinstance(value, list):
            for inner in value:
                scan(inner)

    scan(step.get("Arguments", {}))
    return found - {step["Name"]}


def _walk(document: Any, path: str) -> Any:
    """``a.b['c'].d`` over dicts (and lists by index), as Get and JsonGet paths are written."""
    for part in _path_parts(path):
        if isinstance(document, list):
            document = document[int(part)]
        else:
            if part not in document:
                raise StepError("Step.PROPERTY", f"{path}: no {part!r} in {sorted(document)}")
            document = document[part]
    return document


def _path_parts(path: str) -> list[str]:
    parts: list[str] = []
    for piece in path.replace("[", ".[").split("."):
        if not piece:
            continue
        parts.append(piece.strip("[]'\"") if piece.startswith("[") else piece)
    return parts


def _matching_policy(policies: list[dict], exception_type: str) -> dict | None:
    return next((p for p in policies if exception_type in p.get("ExceptionType", [])), None)
