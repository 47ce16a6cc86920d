"""AWS::Lambda::Function: named, its code asset left where `cdk deploy` published it, for custom resources and
Lambda steps to run (custom_resources)."""

from __future__ import annotations

from rehearsal.cloudformation.model import Placement, Resource, ResourceType


def function(deployment: Placement, logical_id: str, properties: dict) -> Resource:
    name = properties.get("FunctionName") or deployment.generated_name(logical_id, limit=64)
    arn = deployment.arn("lambda", f"function:{name}")
    return Resource(logical_id, "AWS::Lambda::Function", name, {"Arn": arn}, properties)


RESOURCE_TYPES = {"AWS::Lambda::Function": ResourceType(function)}
