"""The gateway maps each AWS request to what IAM authorizes, and a denied one gets the service's own error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError

from rehearsal.cloud import CLIENT_CONFIG, Cloud
from rehearsal.gateway import s3_requests, sagemaker_requests
from rehearsal.iam import BucketRecord, Directory, Policy, RoleRecord

ROLE = "arn:aws:iam::111111111111:role/job"
KEY = "arn:aws:kms:us-east-1:111111111111:key/k1"


def directory_with_bucket() -> Directory:
    directory = Directory(engine=None)
    directory.buckets["data"] = BucketRecord("data", "111111111111", "us-east-1", KEY)
    return directory


def actions(requests) -> list[tuple[str, str, dict]]:
    return [(r.action, r.resource, dict(r.context)) for r in requests]


def test_an_sse_kms_object_read_needs_decrypt_through_s3_and_a_write_needs_a_data_key():
    directory = directory_with_bucket()
    read = actions(s3_requests(ROLE, "GET", "/data/a/b.csv", {}, {}, directory, "us-east-1"))
    assert [(a, r) for a, r, _ in read] == [("s3:GetObject", "arn:aws:s3:::data/a/b.csv"), ("kms:Decrypt", KEY)]
    assert read[1][2]["kms:ViaService"] == "s3.us-east-1.amazonaws.com"
    write = actions(s3_requests(ROLE, "PUT", "/data/out.tar.gz", {}, {}, directory, "us-east-1"))
    assert [a for a, _, _ in write] == ["s3:PutObject", "kms:GenerateDataKey"]
    head = actions(s3_requests(ROLE, "HEAD", "/data/a", {}, {}, directory, "us-east-1"))
    assert [a for a, _, _ in head] == ["s3:GetObject"], "HEAD reads no data, so no decrypt"


def test_listing_carries_its_prefix_and_a_copy_reads_its_source():
    directory = directory_with_bucket()
    (listing,) = actions(
        s3_requests(ROLE, "GET", "/data", {"list-type": ["2"], "prefix": ["datasets/"]}, {}, directory, "us-east-1")
    )
    assert listing[:2] == ("s3:ListBucket", "arn:aws:s3:::data") and listing[2]["s3:prefix"] == "datasets/"
    copied = actions(
        s3_requests(ROLE, "PUT", "/data/new", {}, {"x-amz-copy-source": "/data/old"}, directory, "us-east-1")
    )
    assert ("s3:GetObject", "arn:aws:s3:::data/old") in [(a, r) for a, r, _ in copied]


def test_registry_calls_name_the_package_version_they_create_or_read():
    (create,) = sagemaker_requests(
        ROLE,
        "CreateModelPackage",
        {"ModelPackageGroupName": "textclf-dev"},
        "us-east-1",
        "111111111111",
        lambda group, account: 4,
    )
    assert create.resource == "arn:aws:sagemaker:us-east-1:111111111111:model-package/textclf-dev/4"
    (other,) = sagemaker_requests(
        ROLE,
        "DescribeModelPackageGroup",
        {"ModelPackageGroupName": "arn:aws:sagemaker:us-east-1:222222222222:model-package-group/g"},
        "us-east-1",
        "111111111111",
        None,
    )
    assert other.resource_account == "222222222222", "another account's group is a cross-account request"
    (listing,) = sagemaker_requests(
        ROLE,
        "ListModelPackages",
        {"ModelPackageGroupName": "arn:aws:sagemaker:us-east-1:222222222222:model-package-group/g"},
        "us-east-1",
        "111111111111",
        None,
    )
    assert (listing.resource, listing.resource_account) == (
        "arn:aws:sagemaker:us-east-1:222222222222:model-package/g/*",
        "222222222222",
    )


def test_a_denied_request_fails_in_the_client_with_accessdenied_naming_role_action_and_reason():
    with Cloud() as cloud:
        admin = cloud.admin("s3", "111111111111")
        admin.create_bucket(Bucket="data")
        cloud.directory.buckets["data"] = BucketRecord("data", "111111111111", "us-east-1")
        cloud.directory.roles[ROLE] = RoleRecord(
            ROLE,
            "111111111111",
            {},
            [
                Policy(
                    "reads-a",
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/a/*"}
                        ],
                    },
                )
            ],
        )
        admin.put_object(Bucket="data", Key="a/x", Body=b"1")
        admin.put_object(Bucket="data", Key="b/y", Body=b"2")
        s3 = cloud.as_role("s3", ROLE)
        assert s3.get_object(Bucket="data", Key="a/x")["Body"].read() == b"1"
        with pytest.raises(ClientError) as denied:
            s3.get_object(Bucket="data", Key="b/y")
        assert denied.value.response["Error"]["Code"] == "AccessDenied"
        assert f"{ROLE} may not s3:GetObject on arn:aws:s3:::data/b/y" in denied.value.response["Error"]["Message"]
        # Credentials of no deployed role (a host's, say) get nothing through the gateway.
        unknown = boto3.client(
            "s3",
            region_name="us-east-1",
            endpoint_url=cloud.url,
            config=CLIENT_CONFIG,
            aws_access_key_id="AKIAUNKNOWN",
            aws_secret_access_key="x",
        )
        with pytest.raises(ClientError, match="AccessDenied"):
            unknown.get_object(Bucket="data", Key="a/x")


def test_a_package_update_carries_the_condition_keys_the_registrys_policy_decides_on():
    """What the group policy refuses (tests/test_registry.py decides it on these keys) must reach the engine: the
    metadata an update removes and sets, and the approval it gives."""
    (update,) = sagemaker_requests(
        ROLE,
        "UpdateModelPackage",
        {
            "ModelPackageArn": "arn:aws:sagemaker:us-east-1:111111111111:model-package/textclf-dev/4",
            "ModelApprovalStatus": "Approved",
            "CustomerMetadataProperties": {"ModelDataSha256": "00" * 32},
            "CustomerMetadataPropertiesToRemove": ["Probe01", "MonitorLength"],
        },
        "us-east-1",
        "111111111111",
        None,
    )
    assert dict(update.context) == {
        "sagemaker:CustomerMetadataProperties/ModelDataSha256": "00" * 32,
        "sagemaker:CustomerMetadataPropertiesToRemove": ["Probe01", "MonitorLength"],
        "sagemaker:ModelApprovalStatus": "Approved",
    }
    assert update.resource == "arn:aws:sagemaker:us-east-1:111111111111:model-package/textclf-dev/4"


def test_another_accounts_registry_is_listed_only_where_its_group_policy_shares_it():
    from rehearsal.iam import AccessDenied, PolicyEngine

    release_role = "arn:aws:iam::555555555555:role/release"
    group = "arn:aws:sagemaker:us-east-1:222222222222:model-package-group/textclf-dev"
    directory = Directory(PolicyEngine())
    try:
        directory.roles[release_role] = RoleRecord(
            release_role,
            "555555555555",
            {},
            [
                Policy(
                    "reads-dev",
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": "sagemaker:ListModelPackages",
                                "Resource": [group, group.replace("-group/", "/") + "/*"],
                            }
                        ],
                    },
                )
            ],
        )
        (listing,) = sagemaker_requests(
            release_role, "ListModelPackages", {"ModelPackageGroupName": group}, "us-east-1", "555555555555", None
        )
        with pytest.raises(AccessDenied, match="resource policy"):
            directory.check(listing)
        directory.group_policies[group] = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::555555555555:root"},
                    "Action": "sagemaker:ListModelPackages",
                    "Resource": group.replace("-group/", "/") + "/*",
                }
            ],
        }
        directory.check(listing)
    finally:
        directory.engine.close()


def test_metric_writes_are_decided_on_their_namespace_and_reads_go_through_to_cloudwatch():
    """The drift monitor's grant, as deployed: PutMetricData only in its namespace (cloudwatch:namespace)."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "cloudwatch:GetMetricData", "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": "cloudwatch:PutMetricData",
                "Resource": "*",
                "Condition": {"StringEquals": {"cloudwatch:namespace": "textclf-prod/Serving"}},
            },
        ],
    }
    with Cloud() as cloud:
        cloud.directory.roles[ROLE] = RoleRecord(ROLE, "111111111111", {}, [Policy("monitor", policy)])
        cloudwatch = cloud.as_role("cloudwatch", ROLE)
        cloudwatch.put_metric_data(Namespace="textclf-prod/Serving", MetricData=[{"MetricName": "M", "Value": 1.0}])
        with pytest.raises(ClientError) as denied:
            cloudwatch.put_metric_data(Namespace="textclf-dev/Serving", MetricData=[{"MetricName": "M", "Value": 1.0}])
        assert "may not cloudwatch:PutMetricData" in denied.value.response["Error"]["Message"]
        now = datetime.now(UTC)
        query = {"Metric": {"Namespace": "textclf-prod/Serving", "MetricName": "M"}, "Period": 60, "Stat": "Sum"}
        (result,) = cloudwatch.get_metric_data(
            MetricDataQueries=[{"Id": "m", "MetricStat": query}],
            StartTime=now - timedelta(minutes=5),
            EndTime=now + timedelta(minutes=1),
        )["MetricDataResults"]
        assert result["Values"] == [1.0]
