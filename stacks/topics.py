"""SNS topics that AWS services publish notifications to."""

from __future__ import annotations

from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.operations_key import OperationsKey


def encrypted_topic(scope: Construct, construct_id: str, *, key: OperationsKey, publisher: str) -> sns.Topic:
    """A TLS-only topic under the operations key; the ``publisher`` service (e.g. events.amazonaws.com) may use it."""
    topic = sns.Topic(scope, construct_id, master_key=key.key, enforce_ssl=True)
    # A service publishing to an SSE-KMS topic encrypts with the key on its own behalf.
    key.allow_publisher(publisher)
    return topic
