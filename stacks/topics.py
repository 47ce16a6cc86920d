"""SNS topics that AWS services publish notifications to."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct


def encrypted_topic(scope: Construct, construct_id: str, *, key: kms.IKey, publisher: str) -> sns.Topic:
    """A TLS-only topic encrypted with ``key``; the ``publisher`` service (e.g. events.amazonaws.com) may use it."""
    topic = sns.Topic(scope, construct_id, master_key=key, enforce_ssl=True)
    # A service publishing to an SSE-KMS topic encrypts with the key on its own behalf.
    key.grant(iam.ServicePrincipal(publisher), "kms:Decrypt", "kms:GenerateDataKey*")
    return topic
