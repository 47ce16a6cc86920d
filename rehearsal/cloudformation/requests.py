"""The API request CloudFormation makes for a resource, checked as the service checks it.

CloudFormation's resource handlers pass a resource's properties to the service's Create call, under the same
member names in another case (``Source.BuildSpec`` is CodeBuild's ``source.buildspec``), with JSON documents as
strings and tag lists as maps where the API wants them. The service then refuses what botocore's model refuses:
maximums, enums and patterns (rehearsal.service_model), and for SageMaker the rules its documentation states
(rehearsal.sagemaker.rules). CloudFormation's own schema (property names, types, required properties) is
cfn-lint's to check; a property the API has no member for is left to it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rehearsal.cloudformation.model import DeployError, Placement
from rehearsal.sagemaker import rules
from rehearsal.service_model import input_shape, model_refusal


@dataclass(frozen=True)
class ApiCall:
    """One request CloudFormation makes for a resource type; ``name`` is the member it fills with the generated
    name when the template leaves it out; ``shaped`` moves CloudFormation-only structure into the API's."""

    service: str
    operation: str
    name: str | None = None
    shaped: Callable[[dict], dict] = dict


def _pipeline_definition(properties: dict) -> dict:
    definition = properties.get("PipelineDefinition") or {}
    location = definition.get("PipelineDefinitionS3Location") or {}
    request = {**properties, "PipelineDefinition": definition.get("PipelineDefinitionBody")}
    if location:
        request["PipelineDefinitionS3Location"] = {
            "Bucket": location.get("Bucket"),
            "ObjectKey": location.get("Key"),
            "VersionId": location.get("Version"),
        }
    return request


def _code_pipeline(properties: dict) -> dict:
    stores = {store["Region"]: store["ArtifactStore"] for store in properties.get("ArtifactStores") or []}
    return {"pipeline": {**properties, **({"artifactStores": stores} if stores else {})}}


def _inline_policies(properties: dict) -> list[dict]:
    return [{"RoleName": properties.get("RoleName"), **policy} for policy in properties.get("Policies") or []]


def _policy_on_each_role(properties: dict) -> list[dict]:
    return [{**properties, "RoleName": role} for role in properties.get("Roles") or []]


def _rule_targets(properties: dict) -> list[dict]:
    return [{"Rule": properties.get("Name"), "Targets": properties["Targets"]}] if properties.get("Targets") else []


# Each type's calls: the first makes the resource; more (a role's inline policies, a rule's targets) follow it,
# each request built from the first's properties by the function beside it.
CALLS: dict[str, tuple[ApiCall, ...]] = {
    "AWS::SageMaker::Model": (ApiCall("sagemaker", "CreateModel", "ModelName"),),
    "AWS::SageMaker::EndpointConfig": (ApiCall("sagemaker", "CreateEndpointConfig", "EndpointConfigName"),),
    "AWS::SageMaker::Endpoint": (ApiCall("sagemaker", "CreateEndpoint", "EndpointName"),),
    "AWS::SageMaker::Pipeline": (ApiCall("sagemaker", "CreatePipeline", "PipelineName", _pipeline_definition),),
    "AWS::SageMaker::ModelPackageGroup": (ApiCall("sagemaker", "CreateModelPackageGroup", "ModelPackageGroupName"),),
    "AWS::Lambda::Function": (ApiCall("lambda", "CreateFunction", "FunctionName"),),
    "AWS::CodeBuild::Project": (ApiCall("codebuild", "CreateProject", "Name"),),
    "AWS::CodePipeline::Pipeline": (ApiCall("codepipeline", "CreatePipeline", "Name", _code_pipeline),),
    "AWS::Logs::LogGroup": (ApiCall("logs", "CreateLogGroup", "LogGroupName"),),
    "AWS::KMS::Key": (ApiCall("kms", "CreateKey", shaped=lambda p: {**p, "Policy": p.get("KeyPolicy")}),),
    "AWS::Events::Rule": (ApiCall("events", "PutRule", "Name"),),
    "AWS::CloudWatch::Alarm": (ApiCall("cloudwatch", "PutMetricAlarm", "AlarmName"),),
    "AWS::IAM::Role": (ApiCall("iam", "CreateRole", "RoleName"),),
    "AWS::ApplicationAutoScaling::ScalableTarget": (ApiCall("application-autoscaling", "RegisterScalableTarget"),),
    "AWS::ApplicationAutoScaling::ScalingPolicy": (
        ApiCall("application-autoscaling", "PutScalingPolicy", "PolicyName"),
    ),
}
# Calls made once per item: (type) -> (service, operation, the requests built from the resource's properties).
EACH: dict[str, tuple[str, str, Callable[[dict], list[dict]]]] = {
    "AWS::IAM::Role": ("iam", "PutRolePolicy", _inline_policies),
    "AWS::IAM::Policy": ("iam", "PutRolePolicy", _policy_on_each_role),
    "AWS::Events::Rule": ("events", "PutTargets", _rule_targets),
}


def check_requests(placement: Placement, logical_id: str, resource_type: str, properties: dict) -> None:
    """Refuse the resource as its service would refuse the request CloudFormation makes for it."""
    named = dict(properties)
    for call in CALLS.get(resource_type, ()):
        if call.name and not named.get(call.name):
            named[call.name] = placement.generated_name(logical_id)
        _check(placement, logical_id, resource_type, call.service, call.operation, call.shaped(named))
    if resource_type in EACH:
        service, operation, requests = EACH[resource_type]
        for request in requests(named):
            _check(placement, logical_id, resource_type, service, operation, request)


def _check(placement: Placement, logical_id: str, resource_type: str, service: str, operation: str, value: dict):
    request = as_request(input_shape(service, operation), value)
    # SageMaker's refusal adds the rules its documentation states to the model's.
    refused = (
        rules.refusal(operation, request) if service == "sagemaker" else model_refusal(service, operation, request)
    )
    if refused:
        raise DeployError(f"{placement.stack.name}/{logical_id} ({resource_type}): CREATE_FAILED: {refused}")


def as_request(shape: Any, value: Any) -> Any:
    """A CloudFormation value in the API's shape: members matched without case, documents and flags as strings,
    tag lists as maps, numbers from strings. A property the shape has no member for is dropped."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        members = {name.lower(): name for name in shape.members}
        request = {}
        for key, inner in value.items():
            member = members.get(key.lower()) or members.get(f"tag{key.lower()}")
            if member and inner is not None:
                request[member] = as_request(shape.members[member], inner)
        return request
    if kind == "list" and isinstance(value, list):
        return [as_request(shape.member, inner) for inner in value]
    if kind == "map" and isinstance(value, list):
        return {item.get("Key"): as_request(shape.value, item.get("Value")) for item in value if isinstance(item, dict)}
    if kind == "map" and isinstance(value, dict):
        return {key: as_request(shape.value, inner) for key, inner in value.items()}
    if kind == "string" and isinstance(value, dict | list):
        return json.dumps(value)
    if kind == "string" and isinstance(value, bool):
        return "true" if value else "false"
    if kind == "string" and isinstance(value, int | float):
        return str(value)
    if kind in ("integer", "long") and isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return value
