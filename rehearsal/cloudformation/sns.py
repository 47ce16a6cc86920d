"""AWS::SNS::Topic: named only."""

from __future__ import annotations

from rehearsal.cloudformation.model import Placement, Resource, ResourceType


def _topic(deployment: Placement, logical_id: str, properties: dict) -> Resource:
    name = properties.get("TopicName") or deployment.generated_name(logical_id, limit=256)
    arn = deployment.arn("sns", name)
    return Resource(logical_id, "AWS::SNS::Topic", arn, {"TopicArn": arn, "TopicName": name}, properties)


RESOURCE_TYPES = {"AWS::SNS::Topic": ResourceType(_topic)}
