"""checkov allowances: one way to let a check fail on one resource, always with a reason.

The gate (``cli.synth_report.checkov``, run by ``make test`` on every synthesized template) fails on
any failed check. A check that cannot pass for a resource, for a reason of the design, is allowed on
that resource only, in the resource's template metadata where checkov reads it (``checkov.skip``),
so the same check still fails anywhere else.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import CfnResource
from constructs import IConstruct

# Reasons shared by the project's Lambda functions that a pipeline run or a deployment calls and waits for
# (stacks/baseline.py, stacks/released_model.py).
FUNCTION_REASONS = {
    "CKV_AWS_115": "Invoked once per pipeline run or deployment; reserving concurrency would take it from the "
    "account's unreserved pool, and fails deployment where that pool is at its minimum of 10.",
    "CKV_AWS_116": "A failure fails the pipeline step or the deployment that waits for the answer, where the "
    "operator sees it; a dead-letter queue would hold events that nothing replays.",
    "CKV_AWS_117": "Calls only AWS APIs, with no VPC resources to reach; a VPC would add NAT or endpoints and "
    "nothing to protect.",
}


# The scheduled functions' own (stacks.function.scheduled_function): they have a dead-letter topic, so CKV_AWS_116
# passes and is not allowed.
SCHEDULED_FUNCTION_REASONS = {
    "CKV_AWS_115": "One run per schedule interval, shorter than the interval; reserving concurrency would take it "
    "from the account's unreserved pool, and fails deployment where that pool is at its minimum of 10.",
    "CKV_AWS_117": "Calls only AWS APIs (the endpoint, CloudWatch, S3), with no VPC resources to reach; a VPC would "
    "add NAT or endpoints and nothing to protect.",
}


def allow(scope: IConstruct, check_id: str, reason: str) -> None:
    """Let ``check_id`` fail on ``scope``'s CloudFormation resource (or its default child), for ``reason``."""
    if len(reason.strip()) < 20:
        raise ValueError(f"allowing {check_id} needs a reason that says why it cannot pass")
    resource = scope if isinstance(scope, CfnResource) else scope.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{scope.node.path}: no CloudFormation resource to allow {check_id} on")
    skips = (resource.get_metadata("checkov") or {}).get("skip", [])
    resource.add_metadata("checkov", {"skip": [*skips, {"id": check_id, "comment": reason}]})


def allow_function_defaults(function: IConstruct, reasons: Mapping[str, str] = FUNCTION_REASONS) -> None:
    """The checks a project function cannot pass, by design: FUNCTION_REASONS for a synchronous, VPC-less, rarely
    invoked one, SCHEDULED_FUNCTION_REASONS for a scheduled one."""
    for check_id, reason in reasons.items():
        allow(function, check_id, reason)
