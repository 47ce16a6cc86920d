"""Model registry construct: a retained group, cross-account read when asked, and its approval events."""

from __future__ import annotations

import pytest
from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from stacks.operations_key import OperationsKey
from stacks.registry import ModelRegistry
from stacks.storage import S3Location

CONSUMER = "444455556666"


def registry(stack, consumers=(), *, retain=True):
    key = kms.Key(stack, "Key")
    artifacts = S3Location(s3.Bucket(stack, "Artifacts", encryption_key=key), "training-jobs/", key)
    return ModelRegistry(
        stack,
        "Registry",
        group_name="textclf-dev",
        artifacts=artifacts,
        retain=retain,
        consumer_accounts=consumers,
        notification_key=OperationsKey(stack, "OperationsKey", removal=RemovalPolicy.DESTROY),
    )


def test_group_is_retained_and_private_by_default(bare_stack):
    registry(bare_stack)
    template = Template.from_stack(bare_stack)
    template.has_resource(
        "AWS::SageMaker::ModelPackageGroup",
        {
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {"ModelPackageGroupName": "textclf-dev", "ModelPackageGroupPolicy": Match.absent()},
        },
    )
    template.resource_count_is("AWS::S3::BucketPolicy", 0)


def test_a_stage_whose_data_is_not_retained_deletes_its_group_so_it_can_be_deployed_again(bare_stack):
    registry(bare_stack, retain=False)
    Template.from_stack(bare_stack).has_resource("AWS::SageMaker::ModelPackageGroup", {"DeletionPolicy": "Delete"})


def test_consumer_accounts_may_describe_packages_and_read_artifacts_through_s3(bare_stack):
    registry(bare_stack, [CONSUMER])
    template = Template.from_stack(bare_stack)
    principal = {"AWS": f"arn:aws:iam::{CONSUMER}:root"}
    template.has_resource_properties(
        "AWS::SageMaker::ModelPackageGroup",
        {
            "ModelPackageGroupPolicy": {
                "Statement": [
                    Match.object_like(
                        {
                            "Principal": principal,
                            "Action": [
                                "sagemaker:DescribeModelPackageGroup",
                                "sagemaker:DescribeModelPackage",
                                "sagemaker:ListModelPackages",
                            ],
                        }
                    )
                ]
            }
        },
    )
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with([Match.object_like({"Principal": principal, "Action": "s3:GetObject"})])
            }
        },
    )
    template.has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Principal": principal,
                                "Action": "kms:Decrypt",
                                "Condition": {"StringEquals": {"kms:ViaService": Match.any_value()}},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_state_changes_of_this_group_reach_an_encrypted_topic(bare_stack):
    registry(bare_stack)
    template = Template.from_stack(bare_stack)
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.sagemaker"],
                "detail-type": ["SageMaker Model Package State Change"],
                "detail": {"ModelPackageGroupName": ["textclf-dev"]},
            },
            "Targets": [Match.object_like({"Arn": {"Ref": Match.string_like_regexp("^RegistryPackageEventsTopic")}})],
        },
    )
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})


@pytest.mark.parametrize(
    "grant, actions",
    [
        ("grant_register", ["sagemaker:CreateModelPackage", "sagemaker:AddTags"]),
        (
            "grant_read",
            ["sagemaker:DescribeModelPackageGroup", "sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages"],
        ),
    ],
)
def test_grants_cover_this_group_only(bare_stack, grant, actions):
    role = iam.Role(bare_stack, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    getattr(registry(bare_stack), grant)(role)
    (policy,) = Template.from_stack(bare_stack).find_resources("AWS::IAM::Policy").values()
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert sorted(statement["Action"]) == sorted(actions)
    rendered = [str(resource) for resource in statement["Resource"]]
    assert any("model-package-group/textclf-dev" in r for r in rendered)
    assert any("model-package/textclf-dev/*" in r for r in rendered)
