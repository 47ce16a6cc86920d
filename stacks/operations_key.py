"""OperationsKey: the key for what the stack tells operators (notification topics, log groups), never for data.

The data key (stacks/storage.py) encrypts datasets, models and job volumes, and no service principal
appears in its policy. The services that publish notifications and write logs encrypt with this key
instead, each bounded as tightly as the service lets a key policy bound it:
- CloudWatch Logs: only for log groups of this account and region (the encryption context);
- CloudWatch alarms: only for alarms of this account and region (``aws:SourceAccount``, ``aws:SourceArn``);
- EventBridge: by principal alone. EventBridge's calls to KMS for an encrypted topic carry no
  ``aws:SourceAccount`` or ``aws:SourceArn`` (docs/security.md, finding 4): a condition on them would
  drop every notification. What it could decrypt is a notification, not data.
"""

from __future__ import annotations

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.arns import arn

PUBLISH = ["kms:Decrypt", "kms:GenerateDataKey*"]
# The services that publish to our topics, and the conditions each supports in a key policy.
PUBLISHERS: dict[str, dict | None] = {
    "cloudwatch.amazonaws.com": {
        "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
        "ArnLike": {"aws:SourceArn": arn("cloudwatch", "alarm:*")},
    },
    "events.amazonaws.com": None,
}
LOGS = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]


class OperationsKey(Construct):
    """``key`` encrypts topics and log groups; ``allow_publisher`` lets a service publish to its topics."""

    def __init__(self, scope: Construct, construct_id: str, *, removal: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts notification topics and log groups; no data",
            enable_key_rotation=True,
            removal_policy=removal,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                actions=LOGS,
                principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
                resources=["*"],
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": arn("logs", "log-group:*")}},
            )
        )
        self._publishers: set[str] = set()

    def allow_publisher(self, service: str) -> None:
        """``service`` (PUBLISHERS) may encrypt and decrypt notifications for topics under this key."""
        if service not in PUBLISHERS:
            raise ValueError(f"publisher: {service!r} is not one of {sorted(PUBLISHERS)}. Fix: add its conditions.")
        if service in self._publishers:
            return
        self._publishers.add(service)
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                actions=PUBLISH,
                principals=[iam.ServicePrincipal(service)],
                resources=["*"],
                conditions=PUBLISHERS[service],
            )
        )
