"""Why each wildcard that CDK Pipelines writes into the delivery stack's policies is unavoidable.

aws-cdk-lib generates these policies in ``build_pipeline()``. Rather than acknowledging rules
wholesale, every statement is read back after the build and each wildcard it holds is matched to
one known, explained pattern; a wildcard that matches none stays unacknowledged and fails synth.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import Construct, IConstruct

from stacks.cfn_text import render
from stacks.nag import acknowledge, as_list

ARTIFACT_ACTIONS = {
    "s3:Abort*",
    "s3:DeleteObject*",
    "s3:GetBucket*",
    "s3:GetObject*",
    "s3:List*",
    "kms:GenerateDataKey*",
    "kms:ReEncrypt*",
}
ARTIFACTS = (
    "aws-cdk-lib grants these action groups on the pipeline's own bucket and KMS key only: artifacts "
    "pass between actions under keys generated per execution, and the key also encrypts approval messages."
)
# (pattern of the rendered wildcard resource, reason)
RESOURCE_REASONS = (
    (
        r":log-group:/aws/codebuild/<\w+>:\*$",
        "CodeBuild names one log stream per build at run time, inside this project's own log group.",
    ),
    (
        r":report-group/<\w+>-\*$",
        "CodeBuild names report groups <project>-<report> at run time; the grant covers this project's only.",
    ),
    (
        r":model-package/[a-z0-9-]+/\*$",
        "SageMaker numbers model package versions at registration; the release step may read this one group's.",
    ),
    (
        r":role/[a-z0-9-]+/smoke-test/\*$",
        "CloudFormation names the stage's smoke-test role at deploy time; its IAM path pins the grant to it.",
    ),
    (
        r":log-group:/aws/codebuild/\*$",
        "aws-cdk-lib shares one role across the asset-publishing projects, created after the role, so their "
        "log groups cannot be named in it.",
    ),
    (
        r":report-group/\*$",
        "aws-cdk-lib shares one role across the asset-publishing projects, created after the role, so their "
        "report groups cannot be named in it.",
    ),
)
# Actions that aws-cdk-lib grants on every resource, and why (for stacks.nag.AcknowledgeUnscopedActions): none
# since the pipeline stopped mutating itself (issue 45), so any such grant fails synth.
UNSCOPED_ACTIONS: dict[str, str] = {}


def acknowledge_pipeline_wildcards(scope: Construct, *, artifact_stores: Sequence[IConstruct]) -> None:
    """Acknowledge each explained wildcard in every policy under ``scope``; leave unexplained ones failing.

    ``artifact_stores`` are the pipeline's own buckets and key: the only resources the artifact action
    groups may name.
    """
    stack = Stack.of(scope)
    stores = {stack.get_logical_id(store.node.default_child) for store in artifact_stores}
    for policy in (node for node in scope.node.find_all() if isinstance(node, iam.Policy)):
        document = stack.resolve(policy.document.to_json())
        for statement in document.get("Statement", []):
            for finding, reason in _explained(statement, stores):
                acknowledge(policy, f"AwsSolutions-IAM5[{finding}]", reason)


def _explained(statement: dict, artifact_stores: set[str]) -> Iterator[tuple[str, str]]:
    actions = as_list(statement.get("Action"))
    resources = [render(resource) for resource in as_list(statement.get("Resource"))]
    if all(_store(resource) in artifact_stores for resource in resources):
        for action in actions:
            if action in ARTIFACT_ACTIONS:
                yield f"Action::{action}", ARTIFACTS
    for resource in resources:
        # "*" alone is stacks.nag.AcknowledgeUnscopedActions's to decide, from the final policy.
        if "*" not in resource or resource == "*":
            continue
        if resource.endswith("/*") and _store(resource) in artifact_stores:
            reason = ARTIFACTS
        else:
            reason = next((why for pattern, why in RESOURCE_REASONS if re.search(pattern, resource)), None)
        if reason is not None:
            yield f"Resource::{resource}", reason


def _store(resource: str) -> str | None:
    """The logical id of ``<LogicalId.Arn>`` or ``<LogicalId.Arn>/…``."""
    match = re.match(r"^<(\w+)\.Arn>(/|$)", resource)
    return match.group(1) if match else None
