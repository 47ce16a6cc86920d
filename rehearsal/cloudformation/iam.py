"""AWS::IAM::Role and AWS::IAM::Policy, recorded where the policy engine decides with them."""

from __future__ import annotations

from rehearsal.cloudformation.model import DeployError, Placement, Resource, ResourceType, digest
from rehearsal.iam import Policy, RoleRecord


def _role(deployment: Placement, logical_id: str, properties: dict) -> Resource:
    name = properties.get("RoleName") or deployment.generated_name(logical_id, limit=64)
    arn = f"arn:aws:iam::{deployment.account}:role{properties.get('Path', '/')}{name}"
    inline = [Policy(p["PolicyName"], p["PolicyDocument"]) for p in properties.get("Policies", [])]
    deployment.cloud.directory.roles[arn] = RoleRecord(
        arn,
        deployment.account,
        properties["AssumeRolePolicyDocument"],
        inline,
        _boundary(deployment, properties),
        _tags(properties),
    )
    return Resource(logical_id, "AWS::IAM::Role", name, {"Arn": arn, "RoleId": digest(arn)[:21].upper()}, properties)


def _boundary(deployment: Placement, properties: dict) -> dict | None:
    """The document of the role's PermissionsBoundary, which must be a managed policy of the role's account."""
    arn = properties.get("PermissionsBoundary")
    if arn is None:
        return None
    document = deployment.cloud.directory.managed_policies.get(arn)
    if document is None or arn.split(":")[4] != deployment.account:
        # IAM's answer to CreateRole or PutRolePermissionsBoundary naming a policy it cannot attach.
        raise DeployError(
            f"PermissionsBoundary: Scope ARN: {arn} does not exist or is not attachable. Fix: create the project's "
            "boundary and bootstrap with it, as `textclf bootstrap-policy` prints (docs/delivery.md)."
        )
    return document


def _update_role(deployment: Placement, existing: Resource, properties: dict) -> None:
    """The role is kept; its trust policy and boundary are the new template's."""
    record = deployment.cloud.directory.roles[existing.attributes["Arn"]]
    record.trust = properties["AssumeRolePolicyDocument"]
    record.boundary = _boundary(deployment, properties)
    record.tags = _tags(properties)


def _tags(properties: dict) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in properties.get("Tags", [])}


def _delete_role(deployment: Placement, resource: Resource) -> None:
    deployment.cloud.directory.roles.pop(resource.attributes["Arn"], None)


def _policy(deployment: Placement, logical_id: str, properties: dict) -> Resource:
    directory = deployment.cloud.directory
    for role_name in properties.get("Roles", []):
        directory.role_named(deployment.account, role_name).policies.append(
            Policy(properties["PolicyName"], properties["PolicyDocument"], source=logical_id)
        )
    return Resource(logical_id, "AWS::IAM::Policy", properties["PolicyName"], {}, properties)


def _delete_policy(deployment: Placement, resource: Resource) -> None:
    """Detach what this policy resource attached from the roles it names, in its own account: another stack's policy
    of the same logical id (Staging-Mlops and Prod-Mlops build the same constructs) is not this one."""
    names = set(resource.properties.get("Roles", []))
    for record in deployment.cloud.directory.roles.values():
        if record.account == deployment.account and record.arn.rsplit("/", 1)[-1] in names:
            record.policies = [p for p in record.policies if p.source != resource.logical_id]


RESOURCE_TYPES = {
    "AWS::IAM::Role": ResourceType(_role, delete=_delete_role, update=_update_role),
    # A policy CloudFormation replaces is detached first, then the new one attached.
    "AWS::IAM::Policy": ResourceType(_policy, delete=_delete_policy),
}
