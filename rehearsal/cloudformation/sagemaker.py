"""SageMaker's resource types: the model package group in moto; models, endpoints and pipelines named."""

from __future__ import annotations

import json

from rehearsal.cloudformation.model import Creator, DeployError, Placement, Resource, ResourceType, keep


def _package_group(deployment: Placement, logical_id: str, properties: dict) -> Resource:
    name = properties.get("ModelPackageGroupName") or deployment.generated_name(logical_id)
    sagemaker = deployment.cloud.admin("sagemaker", deployment.account, deployment.region)
    # moto accepts a second group of the same name; SageMaker does not, and neither does CloudFormation.
    existing = {
        g["ModelPackageGroupName"] for g in sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"]
    }
    if name in existing:
        raise DeployError(
            f"{deployment.stack.name}/{logical_id} (AWS::SageMaker::ModelPackageGroup): CREATE_FAILED: "
            f"{name} already exists (AlreadyExists), e.g. retained by an earlier deployment of this "
            "stack. Fix: let a group that is deleted with its stack be deleted, or name it per stack."
        )
    sagemaker.create_model_package_group(ModelPackageGroupName=name)
    arn = deployment.arn("sagemaker", f"model-package-group/{name}")
    if properties.get("ModelPackageGroupPolicy"):
        policy = properties["ModelPackageGroupPolicy"]
        deployment.cloud.directory.group_policies[arn] = json.loads(policy) if isinstance(policy, str) else policy
    return Resource(
        logical_id,
        "AWS::SageMaker::ModelPackageGroup",
        arn,
        {"ModelPackageGroupArn": arn, "ModelPackageGroupName": name},
        properties,
    )


def _delete_group(deployment: Placement, resource: Resource) -> None:
    # moto has no DeleteModelPackageGroup; remove it from moto's own store, as the API would.
    from moto.sagemaker.models import sagemaker_backends

    backend = sagemaker_backends[deployment.account][deployment.region]
    backend.model_package_groups.pop(resource.attributes["ModelPackageGroupName"], None)


def _named_sagemaker(kind: str, name_property: str, name_attribute: str) -> Creator:
    """Model, EndpointConfig, Endpoint, Pipeline: Ref is the ARN (the name for pipelines)."""

    def create(deployment: Placement, logical_id: str, properties: dict) -> Resource:
        name = properties.get(name_property) or deployment.generated_name(logical_id)
        arn = deployment.arn("sagemaker", f"{kind}/{name.lower()}")
        resource_type = deployment.stack.template["Resources"][logical_id]["Type"]
        physical = name if kind == "pipeline" else arn
        return Resource(logical_id, resource_type, physical, {name_attribute: name, "Arn": arn}, properties)

    return create


_named_endpoint_config = _named_sagemaker("endpoint-config", "EndpointConfigName", "EndpointConfigName")


def _endpoint_config(deployment: Placement, logical_id: str, properties: dict) -> Resource:
    """CreateEndpointConfig refuses a variant whose model does not exist ("Could not find model")."""
    models = {r.attributes.get("ModelName") for r in deployment.stack.of_type("AWS::SageMaker::Model")}
    sagemaker = deployment.cloud.admin("sagemaker", deployment.account, deployment.region)
    models |= {m["ModelName"] for m in sagemaker.list_models(MaxResults=100)["Models"]}
    for variant in properties.get("ProductionVariants", []):
        if variant.get("ModelName") not in models:
            raise DeployError(
                f"{deployment.stack.name}/{logical_id} (AWS::SageMaker::EndpointConfig): CREATE_FAILED: "
                f'ValidationException: Could not find model "{variant.get("ModelName")}" for variant '
                f"{variant.get('VariantName')}. Fix: name a model this stack creates (Ref or GetAtt ModelName), "
                "so that CloudFormation creates it first."
            )
    return _named_endpoint_config(deployment, logical_id, properties)


RESOURCE_TYPES = {
    "AWS::SageMaker::ModelPackageGroup": ResourceType(_package_group, delete=_delete_group, update=keep),
    "AWS::SageMaker::Pipeline": ResourceType(_named_sagemaker("pipeline", "PipelineName", "PipelineName")),
    "AWS::SageMaker::Model": ResourceType(_named_sagemaker("model", "ModelName", "ModelName")),
    "AWS::SageMaker::EndpointConfig": ResourceType(_endpoint_config),
    "AWS::SageMaker::Endpoint": ResourceType(_named_sagemaker("endpoint", "EndpointName", "EndpointName")),
}
