"""Model registry construct: a retained group, cross-account read when asked, and its approval events."""

from __future__ import annotations

import json

import pytest
from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from stacks.cfn_text import render
from stacks.operations_key import OperationsKey
from stacks.registry import ModelRegistry
from stacks.roles import release_copy_role_path
from stacks.storage import S3Location
from training import contract

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
        model_reader_path=release_copy_role_path("textclf"),
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
            "Properties": {"ModelPackageGroupName": "textclf-dev"},
        },
    )
    (group,) = template.find_resources("AWS::SageMaker::ModelPackageGroup").values()
    statements = group["Properties"]["ModelPackageGroupPolicy"]["Statement"]
    assert {s["Effect"] for s in statements} == {"Deny"}, "its policy only refuses: no other account may read it"
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
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Allow",
                                "Principal": principal,
                                "Action": [
                                    "sagemaker:DescribeModelPackageGroup",
                                    "sagemaker:DescribeModelPackage",
                                    "sagemaker:ListModelPackages",
                                ],
                            }
                        )
                    ]
                )
            }
        },
    )
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Principal": principal,
                                "Action": "s3:GetObject",
                                "Condition": {"ArnLike": Match.any_value()},
                            }
                        )
                    ]
                )
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
                                "Condition": {
                                    "StringEquals": {"kms:ViaService": Match.any_value()},
                                    "ArnLike": {"aws:PrincipalArn": Match.any_value()},
                                },
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


def test_only_the_consumers_release_copy_roles_may_read_model_data_not_the_accounts(engine, bare_stack):
    """Issue 30: the bucket policy admitted the staging and prod accounts as a whole to every training output,
    unapproved models included. Decided by the policy engine on the synthesized bucket policy."""
    from test_training_pipeline import _cfn

    registry(bare_stack, [CONSUMER])
    (resource,) = Template.from_stack(bare_stack).find_resources("AWS::S3::BucketPolicy").values()
    objects = "arn:aws:s3:::dev-models/training-jobs/job/output/model.tar.gz"
    policy = _cfn(resource["Properties"]["PolicyDocument"])
    for statement in policy["Statement"]:
        statement["Resource"] = "arn:aws:s3:::dev-models/*"  # the artifact bucket, as deployed

    def may_read(role: str) -> bool:
        context = {"aws:SecureTransport": "true", "aws:PrincipalArn": role, "aws:PrincipalAccount": CONSUMER}
        return decide(engine, "s3:GetObject", policy, role, objects, context) == "Allowed"

    assert may_read(f"arn:aws:iam::{CONSUMER}:role/textclf-release-copy/Prod-Mlops-ReleasedModelRole-AbC")
    assert not may_read(f"arn:aws:iam::{CONSUMER}:role/Prod-Mlops-RolesModelExecutionRole-AbC")
    assert not may_read(f"arn:aws:iam::{CONSUMER}:role/analyst")


def decide(engine, action: str, resource_policy: dict, principal: str, resource: str, context: dict) -> str:
    """The engine's decision for ``principal``, whose own policy allows ``action`` on everything, under the
    synthesized ``resource_policy``."""
    allow_all = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]}
    answer = engine.simulate(
        {
            "identityPolicies": [{"name": "own", "policy": allow_all}],
            "serviceControlPolicies": [],
            "resourceControlPolicies": [],
            "resourcePolicy": resource_policy,
            "request": {
                "action": action,
                "principal": principal,
                "resource": {"resource": resource, "accountId": "111122223333"},
                "contextVariables": context,
            },
        }
    )
    return answer["decision"]


def group_policy(stack) -> dict:
    """The synthesized group policy, its ARNs as deployed in 111122223333, us-east-1."""
    (group,) = Template.from_stack(stack).find_resources("AWS::SageMaker::ModelPackageGroup").values()
    text = json.dumps(group["Properties"]["ModelPackageGroupPolicy"])
    for statement in group["Properties"]["ModelPackageGroupPolicy"]["Statement"]:
        text = text.replace(json.dumps(statement["Resource"]), json.dumps(render(statement["Resource"])))
    for pseudo, value in (("AWS::Partition", "aws"), ("AWS::Region", "us-east-1"), ("AWS::AccountId", "111122223333")):
        text = text.replace(f"<{pseudo}>", value)
    return json.loads(text)


STRIPPING = [
    {"sagemaker:CustomerMetadataPropertiesToRemove": ["Probe03"]},
    {"sagemaker:CustomerMetadataPropertiesToRemove": ["Reviewer", "MonitorLength"]},
    {"sagemaker:CustomerMetadataPropertiesToRemove": [contract.MODEL_DATA_SHA256]},
    {f"sagemaker:CustomerMetadataProperties/{contract.MODEL_DATA_SHA256}": "00" * 32},
    {"sagemaker:CustomerMetadataProperties/Probe01": contract.NO_PROBE},
    {"sagemaker:CustomerMetadataProperties/MonitorClassMix": contract.NO_BASELINE},
]


@pytest.mark.parametrize("update", [*STRIPPING, {"sagemaker:ModelApprovalStatus": "Approved"}])
def test_no_principal_may_remove_or_change_what_the_evaluation_registered(engine, bare_stack, update):
    """Issue 45, finding 5: a dev principal who may approve (UpdateModelPackage) could strip the probe set and the
    monitoring baseline, so prod served with no probe or drift alarm, or re-point the digest. The group policy now
    refuses that to every principal, its own account's included; an approval, or metadata of another name, passes."""
    registry(bare_stack)
    package = "arn:aws:sagemaker:us-east-1:111122223333:model-package/textclf-dev/4"
    approver = "arn:aws:iam::111122223333:role/data-science-lead"
    decision = decide(engine, "sagemaker:UpdateModelPackage", group_policy(bare_stack), approver, package, update)
    expected = "Allowed" if update not in STRIPPING else "ExplicitlyDenied"
    assert decision == expected
