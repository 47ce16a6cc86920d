"""The operations key: services may use it only as far as a key policy can bound them, and it holds no data.

Each decision is the IAM policy engine's (@cloud-copilot/iam-simulate) on the synthesized key policy.
"""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Environment, RemovalPolicy, Stack
from aws_cdk.assertions import Template
from test_training_pipeline import ACCOUNT, REGION, _cfn

from stacks.operations_key import OperationsKey
from stacks.topics import encrypted_topic

OTHER = "999988887777"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture(scope="module")
def key_policy() -> dict:
    stack = Stack(App(), "Bare", env=Environment(account=ACCOUNT, region=REGION))
    key = OperationsKey(stack, "OperationsKey", removal=RemovalPolicy.DESTROY)
    encrypted_topic(stack, "Alarms", key=key, publisher="cloudwatch.amazonaws.com")
    encrypted_topic(stack, "Events", key=key, publisher="events.amazonaws.com")
    (resource,) = Template.from_stack(stack).find_resources("AWS::KMS::Key").values()
    return _cfn(resource["Properties"]["KeyPolicy"])


def decide(engine, policy: dict, service: str, action: str, resource: str = KEY, **context: str) -> str:
    answer = engine.simulate(
        {
            "identityPolicies": [],
            "serviceControlPolicies": [],
            "resourceControlPolicies": [],
            "resourcePolicy": policy,
            "request": {
                "action": action,
                "principal": service,
                "resource": {"resource": resource, "accountId": ACCOUNT},
                "contextVariables": {"aws:SecureTransport": "true", **context},
            },
        }
    )
    return answer["decision"]


def test_alarms_of_this_account_and_region_may_publish_and_no_others(engine, key_policy):
    cloudwatch = "cloudwatch.amazonaws.com"
    ours = {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:Latency"}
    assert decide(engine, key_policy, cloudwatch, "kms:GenerateDataKey", **ours) == "Allowed"
    theirs = {"aws:SourceAccount": OTHER, "aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{OTHER}:alarm:Latency"}
    assert decide(engine, key_policy, cloudwatch, "kms:GenerateDataKey", **theirs) != "Allowed"
    assert decide(engine, key_policy, cloudwatch, "kms:Decrypt") != "Allowed", "no source, no use"


def test_logs_may_encrypt_only_this_accounts_log_groups(key_policy):
    """By shape: the engine (iam-simulate 0.1.173) ignores kms:EncryptionContext:<key> context keys."""
    logs = f"logs.{REGION}.amazonaws.com"
    (statement,) = [s for s in key_policy["Statement"] if s["Principal"].get("Service") == logs]
    assert statement["Condition"] == {
        "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:*"}
    }


def test_eventbridge_may_publish_without_source_conditions_which_it_does_not_send(engine, key_policy):
    assert decide(engine, key_policy, "events.amazonaws.com", "kms:GenerateDataKey") == "Allowed"


def test_no_service_may_do_more_than_encrypt_and_decrypt(engine, key_policy):
    for service in ("cloudwatch.amazonaws.com", "events.amazonaws.com", f"logs.{REGION}.amazonaws.com"):
        for action in ("kms:CreateGrant", "kms:ScheduleKeyDeletion", "kms:PutKeyPolicy"):
            assert decide(engine, key_policy, service, action, **{"aws:SourceAccount": ACCOUNT}) != "Allowed"


def test_a_publisher_without_known_conditions_is_refused_at_synth():
    stack = Stack(App(), "Bare", env=Environment(account=ACCOUNT, region=REGION))
    key = OperationsKey(stack, "OperationsKey", removal=RemovalPolicy.DESTROY)
    with pytest.raises(ValueError, match=r"^publisher: 's3.amazonaws.com' .* Fix: "):
        encrypted_topic(stack, "Topic", key=key, publisher="s3.amazonaws.com")


def test_eventbridge_may_publish_to_a_topic_only_for_the_rule_that_targets_it(engine):
    """Issue 30: aws-cdk-lib's SnsTopic target let events.amazonaws.com publish with no condition, so any account's
    rule could post to our alert topics. The topic policy now names the rule (aws:SourceArn, which EventBridge sets)."""
    from aws_cdk import aws_events as events

    from stacks.topics import RuleToTopic

    stack = Stack(App(), "Bare", env=Environment(account=ACCOUNT, region=REGION))
    key = OperationsKey(stack, "OperationsKey", removal=RemovalPolicy.DESTROY)
    topic = encrypted_topic(stack, "Events", key=key, publisher="events.amazonaws.com")
    events.Rule(
        stack, "Failures", event_pattern=events.EventPattern(source=["aws.sagemaker"]), targets=[RuleToTopic(topic)]
    )
    template = Template.from_stack(stack)
    (resource,) = template.find_resources("AWS::SNS::TopicPolicy").values()
    (topic_id,) = template.find_resources("AWS::SNS::Topic")
    (rule_id,) = template.find_resources("AWS::Events::Rule")
    topic_arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:events"
    rule = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/failures"
    deployed = json.dumps(resource["Properties"]["PolicyDocument"])
    deployed = deployed.replace(json.dumps({"Ref": topic_id}), json.dumps(topic_arn))
    policy = _cfn(json.loads(deployed.replace(json.dumps({"Fn::GetAtt": [rule_id, "Arn"]}), json.dumps(rule))))

    def publish(**context: str) -> str:
        return decide(engine, policy, "events.amazonaws.com", "sns:Publish", topic_arn, **context)

    assert publish(**{"aws:SourceArn": rule}) == "Allowed"
    assert publish(**{"aws:SourceArn": f"arn:aws:events:{REGION}:{OTHER}:rule/anything"}) != "Allowed"
    assert publish() != "Allowed", "no rule, no publishing"
