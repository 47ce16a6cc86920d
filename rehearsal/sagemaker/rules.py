"""What SageMaker refuses of a request, beyond botocore's client-side ParamValidator, each rule with its source.

The model's maximums, enums and patterns are checked by rehearsal.service_model. SageMaker also refuses what its
API documentation states in prose; a rule here quotes that documentation from botocore's model at run time, so
that the message names the rule's source, and a test fails when botocore no longer says it.
"""

from __future__ import annotations

from collections.abc import Callable

from rehearsal.sagemaker.pipelines import StepError
from rehearsal.service_model import documented, model_refusal, type_errors

# Where each job API holds its instance type and volume key: (botocore shape, path in the request).
_VOLUMES = {
    "CreateTrainingJob": ("ResourceConfig", ("ResourceConfig",)),
    "CreateProcessingJob": ("ProcessingClusterConfig", ("ProcessingResources", "ClusterConfig")),
    "CreateTransformJob": ("TransformResources", ("TransformResources",)),
}


def validate_request(operation: str, request: dict) -> None:
    """SageMaker refuses a request its API model does not allow, or that breaks a rule its documentation states."""
    report = type_errors("sagemaker", operation, request)
    if report:
        raise StepError("SageMaker.VALIDATION", f"{operation}: {report}")
    refused = refusal(operation, request)
    if refused:
        raise StepError("SageMaker.VALIDATION", refused)


def refusal(operation: str, request: dict) -> str | None:
    """Why SageMaker refuses ``request`` beyond its types and required members, with the fix; None if it accepts."""
    refused = model_refusal("sagemaker", operation, request)
    if refused:
        return refused
    for rule in _DOCUMENTED:
        refused = rule(operation, request)
        if refused:
            return refused
    return None


def _spot_wait_covers_the_run(operation: str, request: dict) -> str | None:
    """botocore documents StoppingCondition.MaxWaitTimeInSeconds: it must cover MaxRuntimeInSeconds."""
    stopping = request.get("StoppingCondition") or {}
    wait, run = stopping.get("MaxWaitTimeInSeconds"), stopping.get("MaxRuntimeInSeconds")
    if operation != "CreateTrainingJob" or wait is None or run is None or wait >= run:
        return None
    rule = documented("sagemaker", "StoppingCondition", "MaxWaitTimeInSeconds", "equal to or greater")
    return (
        f"{operation}: StoppingCondition.MaxWaitTimeInSeconds {wait} < MaxRuntimeInSeconds {run}. botocore's "
        f'SageMaker model, StoppingCondition.MaxWaitTimeInSeconds: "{rule}" Fix: raise max_wait_seconds.'
    )


def _instance_supports_kms(instance_type: str) -> bool:
    # Imported here: sagemaker-core takes a second to import, and every `textclf` command imports this module.
    from sagemaker.core.common_utils import instance_supports_kms

    return instance_supports_kms(instance_type)


def _no_volume_key_on_local_storage(operation: str, request: dict) -> str | None:
    """botocore documents it for each job's VolumeKmsKeyId; which types have local storage is the SageMaker SDK's
    table (sagemaker-core's instance_supports_kms)."""
    if operation not in _VOLUMES:
        return None
    shape, path = _VOLUMES[operation]
    resources = request
    for part in path:
        resources = resources.get(part) or {}
    instance_type = resources.get("InstanceType")
    if not resources.get("VolumeKmsKeyId") or not instance_type or _instance_supports_kms(instance_type):
        return None
    rule = documented("sagemaker", shape, "VolumeKmsKeyId", "You can't request")
    return (
        f"{operation}: {'.'.join(path)}.VolumeKmsKeyId is set on {instance_type}, which has local storage "
        f"(sagemaker-core instance_supports_kms). botocore's SageMaker model, {shape}.VolumeKmsKeyId: "
        f'"{rule}" Fix: leave VolumeKmsKeyId out for that instance type.'
    )


def _serverless_within_documented_values(operation: str, request: dict) -> str | None:
    """botocore documents ProductionVariantServerlessConfig: memory in whole GB, provisioned within the maximum."""
    if operation != "CreateEndpointConfig":
        return None
    for index, variant in enumerate(request.get("ProductionVariants") or []):
        serverless = variant.get("ServerlessConfig") or {}
        where = f"{operation}: ProductionVariants[{index}].ServerlessConfig"
        source = "botocore's SageMaker model, ProductionVariantServerlessConfig"
        memory = serverless.get("MemorySizeInMB")
        if isinstance(memory, int) and memory % 1024:
            rule = documented("sagemaker", "ProductionVariantServerlessConfig", "MemorySizeInMB", "Valid values")
            return f'{where}.MemorySizeInMB {memory}. {source}.MemorySizeInMB: "{rule}" Fix: use a whole GB.'
        provisioned, maximum = serverless.get("ProvisionedConcurrency"), serverless.get("MaxConcurrency")
        if isinstance(provisioned, int) and isinstance(maximum, int) and provisioned > maximum:
            rule = documented("sagemaker", "ProductionVariantServerlessConfig", "ProvisionedConcurrency", "Should")
            return (
                f"{where}.ProvisionedConcurrency {provisioned} > MaxConcurrency {maximum}. "
                f'{source}.ProvisionedConcurrency: "{rule}" Fix: lower it, or raise MaxConcurrency.'
            )
    return None


_DOCUMENTED: tuple[Callable[[str, dict], str | None], ...] = (
    _no_volume_key_on_local_storage,
    _spot_wait_covers_the_run,
    _serverless_within_documented_values,
)
