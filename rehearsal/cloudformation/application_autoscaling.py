"""Application Auto Scaling: a realtime endpoint's scalable target and its scaling policy, in moto."""

from __future__ import annotations

from rehearsal.cloudformation.model import Placement, Resource, ResourceType


def _scalable_target(deployment: Placement, logical_id: str, properties: dict) -> Resource:
    """RegisterScalableTarget in moto; Ref is CloudFormation's "resource id|dimension|namespace"."""
    client = deployment.cloud.admin("application-autoscaling", deployment.account, deployment.region)
    # CloudFormation's tags are a list of Key/Value pairs; the API takes a map.
    tags = {tag["Key"]: tag["Value"] for tag in properties.get("Tags", [])}
    client.register_scalable_target(**{**properties, "Tags": tags} if tags else properties)
    physical = "|".join(properties[k] for k in ("ResourceId", "ScalableDimension", "ServiceNamespace"))
    return Resource(logical_id, "AWS::ApplicationAutoScaling::ScalableTarget", physical, {}, properties)


def _scaling_policy(deployment: Placement, logical_id: str, properties: dict) -> Resource:
    """PutScalingPolicy on the target its ScalingTargetId (the target's Ref) names."""
    resource_id, dimension, namespace = properties["ScalingTargetId"].split("|")
    request = {k: v for k, v in properties.items() if k != "ScalingTargetId"}
    client = deployment.cloud.admin("application-autoscaling", deployment.account, deployment.region)
    arn = client.put_scaling_policy(
        ServiceNamespace=namespace, ResourceId=resource_id, ScalableDimension=dimension, **request
    )["PolicyARN"]
    return Resource(logical_id, "AWS::ApplicationAutoScaling::ScalingPolicy", arn, {"Arn": arn}, properties)


RESOURCE_TYPES = {
    "AWS::ApplicationAutoScaling::ScalableTarget": ResourceType(_scalable_target),
    "AWS::ApplicationAutoScaling::ScalingPolicy": ResourceType(_scaling_policy),
}
