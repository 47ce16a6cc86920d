"""Every resource type the rehearsal creates, from its service's module; any other type is only named."""

from __future__ import annotations

from rehearsal.cloudformation import (
    application_autoscaling,
    awslambda,
    cloudwatch,
    iam,
    kms,
    logs,
    s3,
    sagemaker,
    sns,
)
from rehearsal.cloudformation.model import ResourceType

SERVICES = (kms, s3, iam, sagemaker, sns, logs, application_autoscaling, awslambda, cloudwatch)
RESOURCE_TYPES: dict[str, ResourceType] = {
    name: entry for service in SERVICES for name, entry in service.RESOURCE_TYPES.items()
}
