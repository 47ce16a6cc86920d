"""CloudWatch Logs: log groups and metric filters, created in moto, where a filter can be asked what it counts."""

from __future__ import annotations

from rehearsal.cloudformation.model import DeployError, Placement, Resource, ResourceType, keep
from rehearsal.iam import AccessDenied, Request, account_of

# What CloudWatch Logs does with a log group's key, as itself: the CloudWatch Logs User Guide, "Encrypt log data
# in CloudWatch Logs using AWS Key Management Service" (the key policy's statement for logs.<region>.amazonaws.com,
# bound by the encryption context kms:EncryptionContext:aws:logs:arn).
LOGS_KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")


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
    if properties.get("KmsKeyId"):
        _check_logs_may_use_key(deployment, logical_id, name, properties["KmsKeyId"])
    if properties.get("RetentionInDays"):
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(properties["RetentionInDays"]))
    # As CloudFormation gives it: Ref is the name, Arn ends with ":*" (the group's streams).
    arn = deployment.arn("logs", f"log-group:{name}:*")
    return Resource(logical_id, "AWS::Logs::LogGroup", name, {"Arn": arn}, properties)


def _check_logs_may_use_key(deployment: Placement, logical_id: str, name: str, key_arn: str) -> None:
    """CloudWatch Logs checks the key as it associates it: its service principal, in the key policy alone."""
    group_arn = deployment.arn("logs", f"log-group:{name}")
    service = f"logs.{deployment.region}.amazonaws.com"
    for action in LOGS_KEY_ACTIONS:
        context = (("kms:EncryptionContext:aws:logs:arn", group_arn),)
        request = Request(service, action, key_arn, account_of(key_arn), context)
        try:
            deployment.cloud.directory.check_service(request)
        except AccessDenied as error:
            raise DeployError(
                f"{deployment.stack.name}/{logical_id} (AWS::Logs::LogGroup): CREATE_FAILED: the KMS key {key_arn} "
                f"is not allowed to be used with {group_arn}: {error}. Fix: let {service} use the key in its key "
                "policy, bound by kms:EncryptionContext:aws:logs:arn (CloudWatch Logs User Guide, encrypt log data)."
            ) from error


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
    if "dimensions" in api:  # CloudFormation lists {Key, Value}; the API takes a map
        api["dimensions"] = {d["Key"]: d["Value"] for d in api["dimensions"]}
    return api


RESOURCE_TYPES = {
    "AWS::Logs::LogGroup": ResourceType(_log_group, delete=_delete_log_group, update=keep),
    "AWS::Logs::MetricFilter": ResourceType(_metric_filter, delete=_delete_metric_filter),
}
