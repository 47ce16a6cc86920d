"""CloudWatch Logs: log groups and metric filters, created in moto, where a filter can be asked what it counts."""

from __future__ import annotations

from rehearsal.cloudformation.model import DeployError, Placement, Resource, ResourceType, keep


def _log_group(deployment: Placement, logical_id: str, properties: dict) -> Resource:
    name = properties.get("LogGroupName") or deployment.generated_name(logical_id, limit=512)
    logs = deployment.cloud.admin("logs", deployment.account, deployment.region)
    try:
        logs.create_log_group(logGroupName=name)
    except logs.exceptions.ResourceAlreadyExistsException as error:
        raise DeployError(
            f"{deployment.stack.name}/{logical_id} (AWS::Logs::LogGroup): CREATE_FAILED: {name} already exists, "
            "e.g. retained by an earlier deployment of this stack. Fix: delete it or import it into the stack."
        ) from error
    if properties.get("RetentionInDays"):
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(properties["RetentionInDays"]))
    # As CloudFormation gives it: Ref is the name, Arn ends with ":*" (the group's streams).
    arn = deployment.arn("logs", f"log-group:{name}:*")
    return Resource(logical_id, "AWS::Logs::LogGroup", name, {"Arn": arn}, properties)


def _delete_log_group(deployment: Placement, resource: Resource) -> None:
    deployment.cloud.admin("logs", deployment.account, deployment.region).delete_log_group(
        logGroupName=resource.physical_id
    )


def _metric_filter(deployment: Placement, logical_id: str, properties: dict) -> Resource:
    name = properties.get("FilterName") or deployment.generated_name(logical_id, limit=512)
    deployment.cloud.admin("logs", deployment.account, deployment.region).put_metric_filter(
        logGroupName=properties["LogGroupName"],
        filterName=name,
        filterPattern=properties["FilterPattern"],
        metricTransformations=[_transformation(t) for t in properties["MetricTransformations"]],
    )
    return Resource(logical_id, "AWS::Logs::MetricFilter", name, {}, properties)


def _delete_metric_filter(deployment: Placement, resource: Resource) -> None:
    deployment.cloud.admin("logs", deployment.account, deployment.region).delete_metric_filter(
        logGroupName=resource.properties["LogGroupName"], filterName=resource.physical_id
    )


def _transformation(transformation: dict) -> dict:
    """CloudFormation's MetricTransformation (MetricName, ...) as the API takes it (metricName, ...)."""
    api = {key[0].lower() + key[1:]: value for key, value in transformation.items()}
    if "defaultValue" in api:
        api["defaultValue"] = float(api["defaultValue"])
    return api


RESOURCE_TYPES = {
    "AWS::Logs::LogGroup": ResourceType(_log_group, delete=_delete_log_group, update=keep),
    "AWS::Logs::MetricFilter": ResourceType(_metric_filter, delete=_delete_metric_filter),
}
