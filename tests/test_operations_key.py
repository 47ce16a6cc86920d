"""The operations key: services may use it only as far as a key policy can bound them, and it holds no data.

Each decision is the IAM policy engine's (@cloud-copilot/iam-simulate) on the synthesized key policy.
"""

from __future__ import annotations

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


def decide(engine, policy: dict, service: str, action: str, **context: str) -> str:
    answer = engine.simulate(
        {
            "identityPolicies": [],
            "serviceControlPolicies": [],
            "resourceControlPolicies": [],
            "resourcePolicy": policy,
            "request": {
                "action": action,
                "principal": service,
                "resource": {"resource": KEY, "accountId": ACCOUNT},
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
