"""SNS topics that AWS services publish notifications to."""

from __future__ import annotations

import jsii
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.operations_key import PUBLISHERS, OperationsKey

EVENTS = "events.amazonaws.com"


@jsii.implements(events.IRuleTarget)
class RuleToTopic:
    """An SNS target of one rule, which only that rule may publish through. aws-cdk-lib's SnsTopic target lets
    events.amazonaws.com publish with no condition, so that any account's rule could post to the topic; EventBridge
    sets aws:SourceArn to the rule's ARN when it publishes (EventBridge User Guide, "Amazon SNS permissions")."""

    def __init__(self, topic: sns.ITopic, *, message: events.RuleTargetInput | None = None) -> None:
        self.topic, self.message = topic, message

    def bind(self, rule: events.IRule, id: str | None = None) -> events.RuleTargetConfig:
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                actions=["sns:Publish"],
                principals=[iam.ServicePrincipal(EVENTS)],
                resources=[self.topic.topic_arn],
                conditions={"ArnEquals": {"aws:SourceArn": rule.rule_arn}},
            )
        )
        return events.RuleTargetConfig(arn=self.topic.topic_arn, input=self.message, target_resource=self.topic)


def encrypted_topic(scope: Construct, construct_id: str, *, key: OperationsKey, publisher: str) -> sns.Topic:
    """A TLS-only topic under the operations key; the ``publisher`` service (e.g. events.amazonaws.com) may use it:
    EventBridge through a rule that names the topic as a RuleToTopic target, only."""
    topic = sns.Topic(scope, construct_id, master_key=key.key, enforce_ssl=True)
    # A service publishing to an SSE-KMS topic encrypts with the key on its own behalf.
    key.allow_publisher(publisher)
    if publisher == EVENTS:
        return topic
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
