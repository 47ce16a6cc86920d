"""cdk-nag wiring: one way to acknowledge a finding, always with a reason."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding on ``scope`` and its children.

    ``rule_id`` names the exact finding, e.g.
    ``AwsSolutions-IAM5[Resource::arn:...:training-job/*]``, so a new wildcard
    elsewhere in the same policy still fails synth.
    """
    if len(reason.strip()) < 20:
        raise ValueError(f"acknowledging {rule_id} needs a reason that says why it is unavoidable")
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))
