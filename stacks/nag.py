"""cdk-nag wiring: one way to acknowledge a finding, always with a reason; and the one rule for ``Resource: "*"``."""

from __future__ import annotations

from collections.abc import Mapping

import jsii
from aws_cdk import Acknowledgment, IAspect, Stack, Validations
from aws_cdk import aws_iam as iam
from constructs import IConstruct

from stacks.iam_data import wildcard_only

UNSCOPED = "AwsSolutions-IAM5[Resource::*]"
# Unscoped actions that are explained only with a condition that bounds them, by its key: PutMetricData on "*"
# without a namespace lets a role publish any metric, an alarm's included (issue 45, finding 6).
BOUNDING_CONDITION = {"cloudwatch:PutMetricData": "cloudwatch:namespace"}


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding on ``scope`` and its children.

    ``rule_id`` names the exact finding, e.g.
    ``AwsSolutions-IAM5[Resource::arn:...:training-job/*]``, so a new wildcard
    elsewhere in the same policy still fails synth. ``Resource::*`` is not acknowledged
    this way: :class:`AcknowledgeUnscopedActions` decides it from the final policy.
    """
    if len(reason.strip()) < 20:
        raise ValueError(f"acknowledging {rule_id} needs a reason that says why it is unavoidable")
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))


@jsii.implements(IAspect)
class AcknowledgeUnscopedActions:
    """Acknowledge ``Resource::*`` on a policy only if every action it grants on "*" must be granted so.

    An action qualifies when AWS authorizes it on no resource type (``wildcard_only``), or when
    ``explained`` gives the reason it stays unscoped. Aspects run at synthesis, after every statement has
    been added: a later ``Resource: "*"`` with any other action, in any policy, still fails synth.
    """

    def __init__(self, explained: Mapping[str, str] | None = None) -> None:
        self.explained = dict(explained or {})

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, iam.Policy):
            return
        # The CloudFormation resource's document: what cdk-nag checks and what deploys.
        cfn = node.node.default_child
        assert isinstance(cfn, iam.CfnPolicy), "an iam.Policy's default child is its CfnPolicy"
        document = Stack.of(node).resolve(cfn.policy_document)
        reasons: dict[str, str | None] = {}
        for statement in document.get("Statement", []):
            if "*" not in as_list(statement.get("Resource")):
                continue
            for action in as_list(statement.get("Action")):
                why = self._reason(action, statement)
                reasons[action] = why if reasons.get(action, why) else None
        if reasons and all(reasons.values()):
            acknowledge(node, UNSCOPED, "; ".join(f"{action}: {why}" for action, why in sorted(reasons.items())))

    def _reason(self, action: str, statement: dict) -> str | None:
        if wildcard_only(action):
            return "AWS authorizes it on no resource type"
        bound = BOUNDING_CONDITION.get(action)
        if bound is not None and not _names_exactly(statement, bound):
            return None
        return self.explained.get(action)


def _names_exactly(statement: dict, key: str) -> bool:
    """The statement's condition names ``key``'s values exactly (StringEquals, no wildcard)."""
    values = as_list(((statement.get("Condition") or {}).get("StringEquals") or {}).get(key))
    return bool(values) and not any("*" in str(value) or "?" in str(value) for value in values)


def as_list(value) -> list:
    return value if isinstance(value, list) else [value] if value is not None else []
