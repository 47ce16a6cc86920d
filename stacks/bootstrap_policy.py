"""The CloudFormation execution policies for `cdk bootstrap`: what our stacks create, and nothing else.

`cdk bootstrap` gives CloudFormation's execution role AdministratorAccess unless told otherwise, so
whoever can deploy through the pipeline could create anything in a stage account. These policies
are computed from the synthesized templates instead. For each resource type a template holds, the
permissions CloudFormation's resource handlers need (create, read, update, delete) come from the
CloudFormation registry schemas that cfn-lint ships, pinned with it. Then:
- IAM actions are limited to roles our stacks create, by name: the stack's generated names (prefixed
  by the stack name) and the ones named from the stage config (prefixed by ``name_prefix``);
- ``iam:AttachRolePolicy`` is left out, because no template attaches a managed policy, and an attached
  AdministratorAccess would be the shortest way past this policy;
- actions of services that no template uses (optional features of a handler, e.g. S3 Tables) are left out.
Everything else a template needs is allowed on any resource of those services.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import cfnlint

SCHEMAS = Path(cfnlint.__file__).parent / "data" / "schemas"
HANDLERS = ("create", "read", "update", "delete")
# Not needed by any template of this project (docstring); attaching a managed policy is how one gets past this one.
LEFT_OUT = {"iam:AttachRolePolicy", "iam:PutRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary"}
# Custom resources are Lambda-backed: CloudFormation invokes the function as the execution role.
CUSTOM_RESOURCE_ACTIONS = {"lambda:InvokeFunction"}
# Types whose schema lists no handlers (CloudFormation provisions them outside the registry): what they call.
WITHOUT_HANDLERS = {
    "AWS::CodeBuild::Project": frozenset(
        {"codebuild:CreateProject", "codebuild:UpdateProject", "codebuild:DeleteProject", "codebuild:BatchGetProjects"}
    )
    | {"iam:PassRole"},
}
# Types whose handler creates a service-linked role on first use in an account, and that role's service: outside
# the stack's own role names, so allowed by service name only. (Realtime endpoints' scaling: stacks/realtime.py.)
SERVICE_LINKED_ROLES = {
    "AWS::ApplicationAutoScaling::ScalableTarget": "sagemaker.application-autoscaling.amazonaws.com"
}
# Services whose actions a handler needs for a resource of another service.
CROSS_SERVICE = {"iam", "kms", "codestar-connections"}
# IAM's limit on a managed policy, whitespace excluded.
MAX_POLICY_CHARACTERS = 6144


def resource_types(templates: Iterable[dict]) -> set[str]:
    return {resource["Type"] for template in templates for resource in template.get("Resources", {}).values()}


@cache
def handler_permissions(resource_type: str) -> frozenset[str]:
    """What CloudFormation's handlers for ``resource_type`` may call, per its registry schema."""
    if resource_type.startswith("Custom::"):
        return frozenset(CUSTOM_RESOURCE_ACTIONS)
    if resource_type == "AWS::CDK::Metadata":
        return frozenset()
    schemas = json.loads((SCHEMAS / "providers" / "us-east-1.json").read_text())
    if resource_type not in schemas:
        raise ValueError(f"{resource_type}: cfn-lint has no CloudFormation schema for it. Fix: upgrade cfn-lint.")
    schema = json.loads((SCHEMAS / "resources" / f"{schemas[resource_type]}.json").read_text())
    handlers = schema.get("handlers", {})
    permissions = frozenset(p for h in HANDLERS for p in handlers.get(h, {}).get("permissions", []))
    if not permissions and resource_type not in WITHOUT_HANDLERS:
        raise ValueError(f"{resource_type}: its schema lists no handler permissions. Fix: add it to WITHOUT_HANDLERS.")
    return permissions or WITHOUT_HANDLERS[resource_type]


def execution_policy(templates: list[dict], *, stack_names: Iterable[str], name_prefix: str) -> dict:
    """One managed policy for CloudFormation's execution role where ``templates`` deploy."""
    types = resource_types(templates)
    actions = {a for t in types for a in handler_permissions(t)} - LEFT_OUT
    services = {t.split("::")[1].lower() for t in types if t.startswith("AWS::")} | {
        a.split(":")[0] for a in CUSTOM_RESOURCE_ACTIONS & actions
    }
    actions = {a for a in actions if a.split(":")[0] in services | CROSS_SERVICE and _valid(a)}
    roles = sorted({f"arn:*:iam::*:role/{name}-*" for name in stack_names} | {f"arn:*:iam::*:role/{name_prefix}-*"})
    iam = sorted(a for a in actions if a.startswith("iam:"))
    others = sorted(a for a in actions if not a.startswith("iam:"))
    statements = [
        {"Sid": "StackResources", "Effect": "Allow", "Action": others, "Resource": "*"},
        {"Sid": "StackRolesOnly", "Effect": "Allow", "Action": iam, "Resource": roles},
    ]
    linked = sorted({SERVICE_LINKED_ROLES[t] for t in types if t in SERVICE_LINKED_ROLES})
    if linked:
        statements.append(
            {
                "Sid": "ServiceLinkedRoles",
                "Effect": "Allow",
                "Action": ["iam:CreateServiceLinkedRole"],
                "Resource": "arn:*:iam::*:role/aws-service-role/*",
                "Condition": {"StringEquals": {"iam:AWSServiceName": linked}},
            }
        )
    return {"Version": "2012-10-17", "Statement": [s for s in statements if s["Action"]]}


def policy_characters(policy: dict) -> int:
    """What IAM counts against MAX_POLICY_CHARACTERS: the document without whitespace."""
    return len(json.dumps(policy, separators=(",", ":")))


def _valid(action: str) -> bool:
    # Schemas list a few pseudo-actions (e.g. s3:REST.PUT.OBJECT) that no policy can name.
    return "." not in action.split(":", 1)[1]
