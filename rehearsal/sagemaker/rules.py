"""What SageMaker refuses of a request, beyond botocore's client-side ParamValidator, each rule with its source.

ParamValidator checks types, required members and minimums. SageMaker also refuses what its API documentation
states in prose. A rule here quotes that documentation from botocore's model at run time, so that the message
names the rule's source, and a test fails when botocore no longer says it.
"""

from __future__ import annotations

import re
from functools import cache

import botocore.session
from botocore.validate import ParamValidator
from sagemaker.core.common_utils import instance_supports_kms

from rehearsal.sagemaker.pipelines import StepError

# Where each job API holds its instance type and volume key: (botocore shape, path in the request).
_VOLUMES = {
    "CreateTrainingJob": ("ResourceConfig", ("ResourceConfig",)),
    "CreateProcessingJob": ("ProcessingClusterConfig", ("ProcessingResources", "ClusterConfig")),
    "CreateTransformJob": ("TransformResources", ("TransformResources",)),
}


@cache
def _model():
    return botocore.session.get_session().get_service_model("sagemaker")


def validate_request(operation: str, request: dict) -> None:
    """SageMaker refuses a request its API model does not allow, or that breaks a rule its documentation states."""
    shape = _model().operation_model(operation).input_shape
    report = ParamValidator().validate(request, shape)
    if report.has_errors():
        raise StepError("SageMaker.VALIDATION", f"{operation}: {report.generate_report()}")
    _no_volume_key_on_local_storage(operation, request)


def documented(shape: str, member: str, containing: str) -> str:
    """The sentence of botocore's documentation of ``shape.member`` that contains ``containing``, as plain text."""
    text = re.sub(r"<[^>]+>", "", _model().shape_for(shape).members[member].documentation)
    for sentence in re.split(r"(?<=\.)\s+", text):
        if containing in sentence:
            return sentence.strip()
    raise LookupError(f"botocore's SageMaker model no longer documents {containing!r} for {shape}.{member}")


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
    if resources.get("VolumeKmsKeyId") and instance_type and not instance_supports_kms(instance_type):
        rule = documented(shape, "VolumeKmsKeyId", "You can't request")
        raise StepError(
            "SageMaker.VALIDATION",
            f"{operation}: {'.'.join(path)}.VolumeKmsKeyId is set on {instance_type}, which has local storage "
            f"(sagemaker-core instance_supports_kms). botocore's SageMaker model, {shape}.VolumeKmsKeyId: "
            f'"{rule}" Fix: leave VolumeKmsKeyId out for that instance type.',
        )
