"""What SageMaker refuses of a request, beyond botocore's client-side ParamValidator, each rule with its source.

ParamValidator checks types, required members and minimums. SageMaker also refuses what its API documentation
states in prose. A rule here quotes that documentation from botocore's model at run time, so that the message
names the rule's source, and a test fails when botocore no longer says it.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, cast

from botocore.validate import ParamValidator

from rehearsal.sagemaker.pipelines import StepError
from stacks.instances import sagemaker_model

# Where each job API holds its instance type and volume key: (botocore shape, path in the request).
_VOLUMES = {
    "CreateTrainingJob": ("ResourceConfig", ("ResourceConfig",)),
    "CreateProcessingJob": ("ProcessingClusterConfig", ("ProcessingResources", "ClusterConfig")),
    "CreateTransformJob": ("TransformResources", ("TransformResources",)),
}


def validate_request(operation: str, request: dict) -> None:
    """SageMaker refuses a request its API model does not allow, or that breaks a rule its documentation states."""
    shape = sagemaker_model().operation_model(operation).input_shape
    report = ParamValidator().validate(request, shape)
    if report.has_errors():
        raise StepError("SageMaker.VALIDATION", f"{operation}: {report.generate_report()}")
    problems: list[str] = []
    _within_model(shape, request, operation, problems)
    if problems:
        raise StepError(
            "SageMaker.VALIDATION",
            f"{problems[0]} (botocore's SageMaker model). Fix: use a value the model allows there.",
        )
    _no_volume_key_on_local_storage(operation, request)
    _spot_wait_covers_the_run(operation, request)


def _within_model(shape: Any, value, path: str, problems: list[str]) -> None:
    """What ParamValidator leaves to the service: maximums, enums and patterns. The SageMaker API reference gives
    each pattern anchored (^...$), so a value must match it whole. ``shape`` is a botocore Shape, whose cached
    members the type checker cannot follow."""
    if shape.type_name == "structure" and isinstance(value, dict):
        for name, inner in value.items():
            if name in shape.members:
                _within_model(shape.members[name], inner, f"{path}.{name}", problems)
    elif shape.type_name == "list" and isinstance(value, list):
        _at_most(shape, len(value), path, "items", problems)
        for index, inner in enumerate(value):
            _within_model(shape.member, inner, f"{path}[{index}]", problems)
    elif shape.type_name == "map" and isinstance(value, dict):
        _at_most(shape, len(value), path, "entries", problems)
        for key, inner in value.items():
            _within_model(shape.key, key, f"{path} key {key!r:.40}", problems)
            _within_model(shape.value, inner, f"{path}.{key}", problems)
    elif shape.type_name == "string" and isinstance(value, str):
        _a_string_within(shape, value, path, problems)
    elif shape.type_name in ("integer", "long", "float", "double") and isinstance(value, int | float):
        maximum = _meta(shape).get("max")
        if maximum is not None and value > maximum:
            problems.append(f"{path}: {value} is over {shape.name}'s maximum {maximum}")


def _a_string_within(shape: Any, value: str, path: str, problems: list[str]) -> None:
    enum, pattern = _meta(shape).get("enum"), _meta(shape).get("pattern")
    _at_most(shape, len(value), path, "characters", problems)
    if enum and value not in enum:
        problems.append(f"{path}: {value!r:.40} is not one of {shape.name}'s {len(enum)} values")
    elif pattern and (compiled := _compiled(pattern)) is not None and not compiled.fullmatch(value):
        problems.append(f"{path}: {value!r:.40} does not match {shape.name}'s pattern {pattern}")


def _meta(shape: Any) -> dict:
    return cast(dict, shape.metadata)


def _at_most(shape: Any, size: int, path: str, unit: str, problems: list[str]) -> None:
    maximum = _meta(shape).get("max")
    if maximum is not None and size > maximum:
        problems.append(f"{path}: {size} {unit}, over {shape.name}'s maximum {maximum}")


@cache
def _compiled(pattern: str) -> re.Pattern | None:
    """botocore's patterns are Java regular expressions; the few Python cannot read are not checked."""
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        return None


def _spot_wait_covers_the_run(operation: str, request: dict) -> None:
    """botocore documents StoppingCondition.MaxWaitTimeInSeconds: it must cover MaxRuntimeInSeconds."""
    stopping = request.get("StoppingCondition") or {}
    wait, run = stopping.get("MaxWaitTimeInSeconds"), stopping.get("MaxRuntimeInSeconds")
    if operation == "CreateTrainingJob" and wait is not None and run is not None and wait < run:
        rule = documented("StoppingCondition", "MaxWaitTimeInSeconds", "equal to or greater")
        raise StepError(
            "SageMaker.VALIDATION",
            f"{operation}: StoppingCondition.MaxWaitTimeInSeconds {wait} < MaxRuntimeInSeconds {run}. botocore's "
            f'SageMaker model, StoppingCondition.MaxWaitTimeInSeconds: "{rule}" Fix: raise max_wait_seconds.',
        )


def documented(shape: str, member: str, containing: str) -> str:
    """The sentence of botocore's documentation of ``shape.member`` that contains ``containing``, as plain text."""
    text = re.sub(r"<[^>]+>", "", sagemaker_model().shape_for(shape).members[member].documentation)
    for sentence in re.split(r"(?<=\.)\s+", text):
        if containing in sentence:
            return sentence.strip()
    raise LookupError(f"botocore's SageMaker model no longer documents {containing!r} for {shape}.{member}")


def _instance_supports_kms(instance_type: str) -> bool:
    # Imported here: sagemaker-core takes a second to import, and every `textclf` command imports this module.
    from sagemaker.core.common_utils import instance_supports_kms

    return instance_supports_kms(instance_type)


def _no_volume_key_on_local_storage(operation: str, request: dict) -> None:
    """botocore documents it for each job's VolumeKmsKeyId; which types have local storage is the SageMaker SDK's
    table (sagemaker-core's instance_supports_kms)."""
    if operation not in _VOLUMES:
        return
    shape, path = _VOLUMES[operation]
    resources = request
    for part in path:
        resources = resources.get(part) or {}
    instance_type = resources.get("InstanceType")
    if resources.get("VolumeKmsKeyId") and instance_type and not _instance_supports_kms(instance_type):
        rule = documented(shape, "VolumeKmsKeyId", "You can't request")
        raise StepError(
            "SageMaker.VALIDATION",
            f"{operation}: {'.'.join(path)}.VolumeKmsKeyId is set on {instance_type}, which has local storage "
            f"(sagemaker-core instance_supports_kms). botocore's SageMaker model, {shape}.VolumeKmsKeyId: "
            f'"{rule}" Fix: leave VolumeKmsKeyId out for that instance type.',
        )
