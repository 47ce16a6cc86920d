"""Where moto's SageMaker differs from SageMaker in ways the stack relies on, made to behave as AWS does.

SageMaker accepts a model package group or package by ARN, also one in another account that shared
it (the delivery pipeline names the source registry by ARN, so that a registry in another account
works). moto 5 looks names up in the caller's own account only and does not resolve group ARNs. The
rehearsal runs moto in-process, so these three calls are routed to the owning account's backend.
UpdateModelPackage (an approval) also keeps a package's CustomerMetadataProperties, as SageMaker does;
moto 5 drops them when the request does not repeat them.
"""

from __future__ import annotations

import re
from typing import Any

_ARN = re.compile(
    r"^arn:aws[a-z-]*:sagemaker:(?P<region>[^:]+):(?P<account>\d{12}):model-package(-group)?/(?P<rest>.+)$"
)
_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return
    from moto.sagemaker.models import SageMakerModelBackend, sagemaker_backends

    def owner(self, name: Any) -> tuple[Any, Any]:
        match = _ARN.match(name or "")
        if not match:
            return self, name
        backend = sagemaker_backends[match.group("account")][match.group("region")]
        return backend, match.group("rest").split("/")[0]

    describe_group = SageMakerModelBackend.describe_model_package_group
    list_packages = SageMakerModelBackend.list_model_packages
    describe_package = SageMakerModelBackend.describe_model_package

    def describe_model_package_group(self, model_package_group_name):
        backend, name = owner(self, model_package_group_name)
        return describe_group(backend, name)

    def list_model_packages(self, *args, **kwargs):
        name = kwargs.get("model_package_group_name")
        backend, kwargs["model_package_group_name"] = owner(self, name)
        return list_packages(backend, *args, **kwargs)

    def describe_model_package(self, model_package_name):
        match = _ARN.match(model_package_name or "")
        backend = sagemaker_backends[match.group("account")][match.group("region")] if match else self
        return describe_package(backend, model_package_name)

    update_package = SageMakerModelBackend.update_model_package

    def update_model_package(self, *args, **kwargs):
        arn = kwargs.get("model_package_arn") or args[0]
        removed = set(kwargs.get("customer_metadata_properties_to_remove") or [])
        kept = {
            k: v
            for k, v in (describe_package(self, arn).customer_metadata_properties or {}).items()
            if k not in removed
        }
        result = update_package(self, *args, **kwargs)
        package = describe_package(self, arn)
        package.customer_metadata_properties = {**kept, **(package.customer_metadata_properties or {})}
        return result

    SageMakerModelBackend.update_model_package = update_model_package
    SageMakerModelBackend.describe_model_package_group = describe_model_package_group
    SageMakerModelBackend.list_model_packages = list_model_packages
    SageMakerModelBackend.describe_model_package = describe_model_package
    _applied = True
