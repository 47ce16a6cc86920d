"""SNS topics that AWS services publish notifications to."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.operations_key import PUBLISHERS, OperationsKey


def encrypted_topic(scope: Construct, construct_id: str, *, key: OperationsKey, publisher: str) -> sns.Topic:
    """A TLS-only topic under the operations key; the ``publisher`` service (e.g. events.amazonaws.com) may use it."""
    topic = sns.Topic(scope, construct_id, master_key=key.key, enforce_ssl=True)
    # A service publishing to an SSE-KMS topic encrypts with the key on its own behalf.
    key.allow_publisher(publisher)
    # The topic policy replaces SNS's default one, which let the account's own services publish: the publisher
    # needs a statement of its own (CloudWatch alarms publish as cloudwatch.amazonaws.com; without it an alarm
    # action fails "... is not authorized to perform: SNS:Publish").
    topic.add_to_resource_policy(
        iam.PolicyStatement(
            actions=["sns:Publish"],
            principals=[iam.ServicePrincipal(publisher)],
            resources=[topic.topic_arn],
            conditions=PUBLISHERS[publisher],
        )
    )
    return topic
