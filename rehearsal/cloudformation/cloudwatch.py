"""AWS::CloudWatch::Alarm: named as CloudFormation names it, with the ARN CloudWatch gives it (``alarm:<name>``), which
policies that name an alarm (GetAtt Arn) are decided against; the rehearsal evaluates its definition
(rehearsal/cloudwatch.py)."""

from __future__ import annotations

from rehearsal.cloudformation.model import Placement, Resource, ResourceType


def alarm(deployment: Placement, logical_id: str, properties: dict) -> Resource:
    name = properties.get("AlarmName") or deployment.generated_name(logical_id)
    arn = deployment.arn("cloudwatch", f"alarm:{name}")
    return Resource(logical_id, "AWS::CloudWatch::Alarm", name, {"Arn": arn}, properties)


RESOURCE_TYPES = {"AWS::CloudWatch::Alarm": ResourceType(alarm)}
