"""The CloudFormation execution policies for `cdk bootstrap`: what our stacks create, and nothing else.

`cdk bootstrap` gives CloudFormation's execution role AdministratorAccess unless told otherwise, so
whoever can deploy through the pipeline could create anything in a stage account. These policies
are computed from the synthesized templates instead. For each resource type a template holds, the
permissions CloudFormation's resource handlers need (create, read, update, delete) come from the
CloudFormation registry schemas that cfn-lint ships, pinned with it. Then:
- IAM actions are limited to roles our stacks create, by name: the stack's generated names (prefixed
  by the stack name) and the ones named from the stage config (prefixed by ``name_prefix``);
- a role may be created, or given a policy or a trust, only while it carries the project's permissions boundary
  (stacks/boundary.py, which also bounds the execution role itself), so no deployment can make an admin role;
  a role may be passed only to the services our roles trust;
- ``iam:AttachRolePolicy`` and removing a boundary are left out, because no template does either;
- what would change another team's resources in the account (a function's code, a bucket's policy, a key's policy
  or deletion, a registry's policy, a build project) is allowed only on resources our stacks name, or, where
  CloudFormation generates the id, that carry our ``project`` tag;
- actions of services that no template uses (optional features of a handler, e.g. S3 Tables) are left out.
Everything else a template needs is allowed on any resource of those services.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import cfnlint

from stacks.boundary import PROJECT_TAG, boundary_arn_pattern, our_roles
from stacks.iam_data import acts_on

SCHEMAS = Path(cfnlint.__file__).parent / "data" / "schemas"
HANDLERS = ("create", "read", "update", "delete")
# Not needed by any template of this project (docstring); attaching a managed policy is how one gets past this one.
LEFT_OUT = {"iam:AttachRolePolicy", "iam:DeleteRolePermissionsBoundary"}
# What a role may do is written by these: allowed only with the boundary on the role (iam:PermissionsBoundary is the
# request's for CreateRole and PutRolePermissionsBoundary, the role's for the others).
BOUNDED = {"iam:CreateRole", "iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:PutRolePermissionsBoundary"}
# Service -> (resource types whose actions are scoped, ARN patterns of ours): {stack} and {stack_lower} are each stack
# name, {prefix} the stage prefix. CloudFormation names a function or bucket after its stack.
# CloudFormation names a function, bucket, topic, rule or alarm after its stack; the stage config names endpoints,
# their configs, models, pipelines and registries, and the endpoint's log group (issue 45, finding 3: these were
# allowed on every resource of the account, another team's included).
_BUCKETS = ("arn:*:s3:::{stack_lower}-*", "arn:*:s3:::{prefix}-*-models-*")
_SAGEMAKER = ("model-package-group", "endpoint", "endpoint-config", "model", "pipeline")
BY_NAME = {
    "lambda": (("function",), ("arn:*:lambda:*:*:function:{stack}-*",)),
    "s3": (("bucket", "object"), (*_BUCKETS, *(f"{bucket}/*" for bucket in _BUCKETS))),
    "sagemaker": (_SAGEMAKER, tuple(f"arn:*:sagemaker:*:*:{kind}/{{prefix}}-*" for kind in _SAGEMAKER)),
    "sns": (("topic",), ("arn:*:sns:*:*:{stack}-*",)),
    "events": (("rule-on-default-event-bus",), ("arn:*:events:*:*:rule/{stack}-*",)),
    "cloudwatch": (("alarm",), ("arn:*:cloudwatch:*:*:alarm:{stack}-*",)),
    "logs": (
        ("log-group",),
        ("arn:*:logs:*:*:log-group:{stack}-*", "arn:*:logs:*:*:log-group:/aws/sagemaker/Endpoints/{prefix}-*"),
    ),
}
# Resources whose ids CloudFormation generates without the stack's name: scoped by our tag.
BY_TAG = {"kms": "key", "codebuild": "project"}
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
    stack_names = list(stack_names)
    iam = {a for a in actions if a.startswith("iam:")}
    owned, scoped = _owned_statements(actions - iam, stack_names, name_prefix)
    statements = [
        {"Sid": "StackResources", "Effect": "Allow", "Action": sorted(actions - iam - scoped), "Resource": "*"},
        *_role_statements(iam, templates, stack_names, name_prefix),
        *owned,
        *_service_linked_roles(types),
    ]
    return {"Version": "2012-10-17", "Statement": [s for s in statements if s["Action"]]}


def _role_statements(iam: set[str], templates: list[dict], stack_names: list[str], name_prefix: str) -> list[dict]:
    """Our roles only, by name; what a role may do is written only with the boundary on it; passed only to the
    services our roles trust."""
    roles = our_roles(name_prefix, stack_names)
    return [
        {"Sid": "StackRoles", "Effect": "Allow", "Action": sorted(iam - BOUNDED - {"iam:PassRole"}), "Resource": roles},
        {
            "Sid": "StackRolesWithBoundary",
            "Effect": "Allow",
            "Action": sorted(iam & BOUNDED),
            "Resource": roles,
            "Condition": {"ArnLike": {"iam:PermissionsBoundary": boundary_arn_pattern(name_prefix)}},
        },
        {
            "Sid": "PassStackRolesToTheirServices",
            "Effect": "Allow",
            "Action": sorted(iam & {"iam:PassRole"}),
            "Resource": roles,
            "Condition": {"StringEquals": {"iam:PassedToService": trusted_services(templates)}},
        },
    ]


def _owned_statements(actions: set[str], stack_names: list[str], name_prefix: str) -> tuple[list[dict], set[str]]:
    """What acts on a function, bucket (and its objects), registry, key or build project: ours only. Also the
    handler actions these statements replace."""
    statements, scoped = [], set()
    for service, (resource_types, patterns) in BY_NAME.items():
        found = sorted(a for a in actions if a.startswith(f"{service}:") and any(acts_on(a, r) for r in resource_types))
        resources = {
            p.format(stack=n, stack_lower=n.lower(), prefix=name_prefix) for p in patterns for n in stack_names
        }
        # Every action of the service on our resources, and none on anyone else's: listing the handlers' actions one
        # by one would not fit IAM's limit on one policy.
        statements.append(
            {
                "Sid": f"Own{service.capitalize()}Only",
                "Effect": "Allow",
                "Action": f"{service}:*" if found else [],
                "Resource": sorted(resources),
            }
        )
        scoped.update(found)
    tagged = sorted(a for a in actions for s, r in BY_TAG.items() if a.startswith(f"{s}:") and acts_on(a, r))
    for sid, creating, key in (("TaggedOwnOnly", False, "ResourceTag"), ("CreateTaggedOnly", True, "RequestTag")):
        # CloudFormation passes the stack's tags to the create call, and a resource it made carries them.
        chosen = [a for a in tagged if _creates(a) is creating]
        statements.append(
            {
                "Sid": sid,
                "Effect": "Allow",
                "Action": chosen,
                "Resource": "*",
                "Condition": {"StringEquals": {f"aws:{key}/{PROJECT_TAG}": name_prefix}},
            }
        )
        scoped.update(chosen)
    return statements, scoped


def _service_linked_roles(types: set[str]) -> list[dict]:
    linked = sorted({SERVICE_LINKED_ROLES[t] for t in types if t in SERVICE_LINKED_ROLES})
    if not linked:
        return []
    return [
        {
            "Sid": "ServiceLinkedRoles",
            "Effect": "Allow",
            "Action": ["iam:CreateServiceLinkedRole"],
            "Resource": "arn:*:iam::*:role/aws-service-role/*",
            "Condition": {"StringEquals": {"iam:AWSServiceName": linked}},
        }
    ]


def trusted_services(templates: Iterable[dict]) -> list[str]:
    """The service principals our roles trust: the only services a deployment passes them to."""
    found = set()
    for template in templates:
        for resource in template.get("Resources", {}).values():
            if resource["Type"] != "AWS::IAM::Role":
                continue
            for statement in resource["Properties"]["AssumeRolePolicyDocument"]["Statement"]:
                services = statement.get("Principal", {}).get("Service", [])
                found |= {s for s in ([services] if isinstance(services, str) else services) if isinstance(s, str)}
    return sorted(found)


def policy_characters(policy: dict) -> int:
    """What IAM counts against MAX_POLICY_CHARACTERS: the document without whitespace."""
    return len(json.dumps(policy, separators=(",", ":")))


def _creates(action: str) -> bool:
    return action.split(":", 1)[1].startswith("Create")


def _valid(action: str) -> bool:
    # Schemas list a few pseudo-actions (e.g. s3:REST.PUT.OBJECT) that no policy can name.
    return "." not in action.split(":", 1)[1]
