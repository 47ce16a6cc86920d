"""The pipeline interpreter: the definition semantics the rehearsal relies on, on small hand-made definitions."""

from __future__ import annotations

import pytest

from rehearsal.sagemaker.pipelines import Execution, PipelineFailed, StepError


def definition(*steps, parameters=None) -> dict:
    return {
        "Version": "2020-12-01",
        "Parameters": parameters
        or [
            {"Name": "Threshold", "Type": "Float", "DefaultValue": 0.8},
            {"Name": "Epochs", "Type": "String", "DefaultValue": "3"},
        ],
        "Steps": list(steps),
    }


def recorder(calls: list, answers: dict | None = None):
    def run(step, arguments, execution):
        calls.append((step["Name"], arguments))
        if step["Name"] == "Evaluate":
            execution.property_files["Evaluate"] = {"Report": {"metrics": {"accuracy": {"value": 0.9}}}}
        return (answers or {}).get(step["Name"], {"ModelArtifacts": {"S3ModelArtifacts": f"s3://out/{step['Name']}"}})

    return run


TRAIN = {"Name": "Train", "Type": "Training", "Arguments": {"epochs": {"Get": "Parameters.Epochs"}}}
EVALUATE = {
    "Name": "Evaluate",
    "Type": "Processing",
    "Arguments": {
        "model": {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"},
        "out": {"Std:Join": {"On": "/", "Values": ["s3://eval", {"Get": "Execution.PipelineExecutionId"}]}},
    },
}
ACCURACY = {
    "Std:JsonGet": {"PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.Report"}, "Path": "metrics.accuracy.value"}
}


def gate(if_steps, else_steps):
    return {
        "Name": "Check",
        "Type": "Condition",
        "Arguments": {
            "Conditions": [
                {"Type": "GreaterThanOrEqualTo", "LeftValue": ACCURACY, "RightValue": {"Get": "Parameters.Threshold"}}
            ],
            "IfSteps": if_steps,
            "ElseSteps": else_steps,
        },
    }


REGISTER = {
    "Name": "Register",
    "Type": "RegisterModel",
    "Arguments": {"ModelDataUrl": {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}},
}
FAIL = {
    "Name": "TooLow",
    "Type": "Fail",
    "Arguments": {
        "ErrorMessage": {
            "Std:Join": {"On": " ", "Values": ["accuracy", ACCURACY, "below", {"Get": "Parameters.Threshold"}]}
        }
    },
}


def test_steps_run_in_dependency_order_with_parameters_properties_and_joins():
    calls = []
    runner = recorder(calls, {"Register": {"ModelPackageArn": "arn:package/1"}})
    # Listed out of order: Evaluate reads Train's properties, so Train runs first.
    execution = Execution.start(
        definition(EVALUATE, gate([REGISTER], [FAIL]), TRAIN),
        execution_id="exec1",
        overrides={"Epochs": "1"},
        runners={"Training": runner, "Processing": runner, "RegisterModel": runner},
    )
    records = execution.run()
    assert [name for name, _ in calls] == ["Train", "Evaluate", "Register"]
    assert calls[0][1] == {"epochs": "1"}, "an override replaces the default"
    assert calls[1][1] == {"model": "s3://out/Train", "out": "s3://eval/exec1"}
    assert calls[2][1] == {"ModelDataUrl": "s3://out/Train"}
    assert {r.name: r.status for r in records} == {
        "Train": "Succeeded",
        "Evaluate": "Succeeded",
        "Check": "Succeeded",
        "Register": "Succeeded",
    }


def test_a_branch_is_a_dag_of_its_own_nested_in_another_condition():
    calls = []
    runner = recorder(calls, {"Register": {"ModelPackageArn": "arn:package/1"}})
    given = {"Type": "Equals", "LeftValue": {"Get": "Parameters.Teacher"}, "RightValue": ""}
    # The branch lists Evaluate and the gate before Train; they need Train, so Train runs first.
    choose = {
        "Name": "TeacherGiven",
        "Type": "Condition",
        "Arguments": {"Conditions": [given], "IfSteps": [EVALUATE, gate([REGISTER], [FAIL]), TRAIN], "ElseSteps": []},
    }
    parameters = [
        {"Name": "Threshold", "Type": "Float", "DefaultValue": 0.8},
        {"Name": "Epochs", "Type": "String", "DefaultValue": "3"},
        {"Name": "Teacher", "Type": "String", "DefaultValue": ""},
    ]
    runners = {"Training": runner, "Processing": runner, "RegisterModel": runner}
    Execution.start(definition(choose, parameters=parameters), execution_id="e", runners=runners).run()
    assert [name for name, _ in calls] == ["Train", "Evaluate", "Register"]
    calls.clear()
    records = Execution.start(
        definition(choose, parameters=parameters),
        execution_id="e",
        runners=runners,
        overrides={"Teacher": "s3://approved/model.tar.gz"},
    ).run()
    assert calls == [] and [(r.name, r.detail) for r in records] == [("TeacherGiven", "outcome=false")]


def test_the_else_branch_fails_the_execution_with_the_fail_steps_message():
    calls = []
    runner = recorder(calls)
    execution = Execution.start(
        definition(TRAIN, EVALUATE, gate([REGISTER], [FAIL])),
        execution_id="e",
        overrides={"Threshold": 0.95},
        runners={"Training": runner, "Processing": runner, "RegisterModel": runner},
    )
    with pytest.raises(PipelineFailed) as failure:
        execution.run()
    assert failure.value.step == "TooLow"
    assert failure.value.message == "accuracy 0.9 below 0.95"
    assert "Register" not in [name for name, _ in calls]


def test_parameters_are_typed_and_unknown_overrides_are_refused():
    execution = Execution.start(definition(), execution_id="e", overrides={"Threshold": "0.5"}, runners={})
    assert execution.parameters["Threshold"] == 0.5
    with pytest.raises(ValueError, match="Thresh"):
        Execution.start(definition(), execution_id="e", overrides={"Thresh": "0.5"}, runners={})


def test_a_retry_policy_retries_the_exception_types_it_lists_and_no_others():
    attempts = []

    def flaky(step, arguments, execution):
        attempts.append(step["Name"])
        if len(attempts) < 3:
            raise StepError("SageMaker.CAPACITY_ERROR", "no spot capacity")
        return {}

    retried = {
        **TRAIN,
        "RetryPolicies": [
            {"ExceptionType": ["SageMaker.CAPACITY_ERROR"], "IntervalSeconds": 1, "BackoffRate": 2.0, "MaxAttempts": 5}
        ],
    }
    records = Execution.start(definition(retried), execution_id="e", runners={"Training": flaky}).run()
    assert (len(attempts), records[0].attempts, records[0].status) == (3, 3, "Succeeded")

    def broken(step, arguments, execution):
        raise StepError("SageMaker.JOB_FAILED", "AlgorithmError: bad data")

    with pytest.raises(PipelineFailed, match="AlgorithmError"):
        Execution.start(definition(retried), execution_id="e", runners={"Training": broken}).run()
