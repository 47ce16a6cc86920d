"""Storage construct: buckets and key are private, encrypted, versioned and retained in prod."""

from __future__ import annotations

import pytest
from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Match, Template

from stacks.storage import Storage


def _storage(stack: Stack, retain: bool = False) -> tuple[Stack, Storage]:
    storage = Storage(
        stack,
        "Storage",
        retain=retain,
        artifact_bucket_name="textclf-dev-models-111122223333-us-east-1",
        checkpoint_retention=Duration.days(9),
        noncurrent_version_retention=Duration.days(30),
        access_log_retention=Duration.days(90),
        data_capture_retention=Duration.days(45),
    )
    return stack, storage


def _buckets(template: Template) -> dict:
    return template.find_resources("AWS::S3::Bucket")


def test_key_rotates(bare_stack):
    stack, _ = _storage(bare_stack)
    Template.from_stack(stack).has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_every_bucket_blocks_public_access_and_is_versioned(bare_stack):
    stack, _ = _storage(bare_stack)
    buckets = _buckets(Template.from_stack(stack))
    assert len(buckets) == 4
    for bucket in buckets.values():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}
        assert props["LifecycleConfiguration"]["Rules"][0]["NoncurrentVersionExpiration"]["NoncurrentDays"] > 0


def test_data_buckets_use_the_customer_key_and_log_access(bare_stack):
    stack, storage = _storage(bare_stack)
    template = Template.from_stack(stack)
    key_id = stack.get_logical_id(storage.key.node.default_child)
    for bucket in (storage.dataset_bucket, storage.artifact_bucket, storage.checkpoint_bucket):
        props = _buckets(template)[stack.get_logical_id(bucket.node.default_child)]["Properties"]
        sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert sse["ServerSideEncryptionByDefault"] == {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": {"Fn::GetAtt": [key_id, "Arn"]},
        }
        assert props["LoggingConfiguration"]["DestinationBucketName"] == {
            "Ref": stack.get_logical_id(storage.access_log_bucket.node.default_child)
        }


def test_every_bucket_denies_plain_http(bare_stack):
    stack, _ = _storage(bare_stack)
    template = Template.from_stack(stack)
    policies = template.find_resources(
        "AWS::S3::BucketPolicy",
        {
            "Properties": {
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {
                                    "Effect": "Deny",
                                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                }
                            )
                        ]
                    )
                }
            }
        },
    )
    assert len(policies) == 4


def test_checkpoints_expire_and_other_data_does_not(bare_stack):
    stack, storage = _storage(bare_stack)
    buckets = _buckets(Template.from_stack(stack))

    def current_expiry(bucket):
        rule = buckets[stack.get_logical_id(bucket.node.default_child)]["Properties"]["LifecycleConfiguration"][
            "Rules"
        ][0]
        return rule.get("ExpirationInDays")

    assert current_expiry(storage.checkpoint_bucket) == 9
    assert current_expiry(storage.dataset_bucket) is None
    assert current_expiry(storage.artifact_bucket) is None


def test_captured_requests_expire_and_the_datasets_beside_them_do_not(bare_stack):
    """Issue 30: what a realtime endpoint captures is users' text; it used to be kept for ever."""
    stack, storage = _storage(bare_stack)
    buckets = _buckets(Template.from_stack(stack))
    rules = buckets[stack.get_logical_id(storage.dataset_bucket.node.default_child)]["Properties"][
        "LifecycleConfiguration"
    ]["Rules"]
    (capture,) = [rule for rule in rules if rule.get("Prefix") == storage.data_capture.prefix]
    assert capture["ExpirationInDays"] == 45
    assert all(rule.get("ExpirationInDays") is None for rule in rules if rule is not capture)


def longest_life_days(rules: list[dict], key: str) -> int | None:
    """How many days an object written at ``key`` may exist in any version, by S3's lifecycle rules for a versioned
    bucket: current until the shortest expiration of the rules matching it, then a noncurrent version until the
    shortest noncurrent expiration (S3 applies the shorter of overlapping expirations); None: for ever."""
    matching = [r for r in rules if r.get("Status", "Enabled") == "Enabled" and key.startswith(r.get("Prefix", ""))]
    current = [r["ExpirationInDays"] for r in matching if "ExpirationInDays" in r]
    noncurrent = [
        r["NoncurrentVersionExpiration"]["NoncurrentDays"] for r in matching if "NoncurrentVersionExpiration" in r
    ]
    if not current or not noncurrent:
        return None
    return min(current) + min(noncurrent)


def test_a_captured_request_lives_at_most_a_day_past_its_stated_retention_in_any_version(bare_stack):
    """Issue 45, finding 7: the capture rule expired noncurrent versions after the same 45 days, so a captured
    request could be read back (by version) for 90 days. The whole lifetime, every rule that matches counted."""
    stack, storage = _storage(bare_stack)
    buckets = _buckets(Template.from_stack(stack))
    rules = buckets[stack.get_logical_id(storage.dataset_bucket.node.default_child)]["Properties"][
        "LifecycleConfiguration"
    ]["Rules"]
    assert longest_life_days(rules, f"{storage.data_capture.prefix}textclf-dev/AllTraffic/2026/12/07/x.jsonl") == 46
    assert longest_life_days(rules, "datasets/train/train.csv") is None, "datasets do not expire"


@pytest.mark.parametrize("retain, policy", [(True, "Retain"), (False, "Delete")])
def test_stateful_resources_follow_the_retain_setting(bare_stack, retain, policy):
    stack, _ = _storage(bare_stack, retain=retain)
    template = Template.from_stack(stack)
    for resource_type in ("AWS::S3::Bucket", "AWS::KMS::Key"):
        for resource in template.find_resources(resource_type).values():
            assert resource["DeletionPolicy"] == policy
            assert resource["UpdateReplacePolicy"] == policy


def test_location_grant_is_limited_to_its_prefix(bare_stack):
    stack, storage = _storage(bare_stack)
    role = iam.Role(stack, "Reader", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    storage.datasets.grant_read(role)
    bucket_id = stack.get_logical_id(storage.dataset_bucket.node.default_child)
    statements = Template.from_stack(stack).find_resources("AWS::IAM::Policy")
    (policy,) = statements.values()
    by_action = {str(s["Action"]): s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    assert by_action["s3:GetObject"]["Resource"] == {
        "Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/datasets/*"]]
    }
    assert by_action["s3:ListBucket"]["Condition"] == {"StringLike": {"s3:prefix": ["datasets/*"]}}
    assert by_action["kms:Decrypt"]["Condition"]["StringEquals"]["kms:ViaService"].startswith("s3.")
    assert all("*" not in str(s["Action"]) for s in by_action.values())
