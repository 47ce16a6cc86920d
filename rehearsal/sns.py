"""SNS: a service publishing to a deployed topic, decided as AWS decides it.

A service principal publishes only if the topic policy lets it (``sns:Publish``) and, for a topic under a KMS key,
only if the key policy lets it use the key: SNS Developer Guide, "Enable compatibility between event sources from
AWS services and encrypted topics" (kms:GenerateDataKey* and kms:Decrypt for the publishing service).
"""

from __future__ import annotations

from typing import Any

from rehearsal.cloudformation.model import Stack
from rehearsal.iam import Directory, Request, account_of

PUBLISH_KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")


def publish_as_service(directory: Directory, stack: Stack, topic_arn: str, service: str, context: tuple = ()) -> None:
    """Raise AccessDenied unless ``service`` (e.g. events.amazonaws.com) can publish to the stack's topic."""
    topic = next((r for r in stack.of_type("AWS::SNS::Topic") if r.physical_id == topic_arn), None)
    directory.check_service(
        Request(service, "sns:Publish", topic_arn, account_of(topic_arn), context),
        resource_policy=_topic_policy(stack, topic_arn),
    )
    key: str | None = topic.properties.get("KmsMasterKeyId") if topic else None
    if key is None:
        return
    for action in PUBLISH_KEY_ACTIONS:
        directory.check_service(Request(service, action, key, account_of(key), context))


def _topic_policy(stack: Stack, topic_arn: str) -> dict[str, Any]:
    documents = [
        r.properties["PolicyDocument"]
        for r in stack.of_type("AWS::SNS::TopicPolicy")
        if topic_arn in r.properties.get("Topics", [])
    ]
    return {"Version": "2012-10-17", "Statement": [s for d in documents for s in d.get("Statement", [])]}
