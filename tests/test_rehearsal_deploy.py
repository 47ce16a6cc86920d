"""The deploy emulation: intrinsics resolved as CloudFormation does, and only declared dependencies wait."""

from __future__ import annotations

import pytest

from rehearsal.cloud import Cloud
from rehearsal.cloudformation.engine import Deployment
from rehearsal.cloudformation.model import DeployError

TEMPLATE = {
    "Resources": {
        "Key": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {"Statement": []}}},
        "Bucket": {
            "Type": "AWS::S3::Bucket",
            "Properties": {
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {
                            "ServerSideEncryptionByDefault": {
                                "SSEAlgorithm": "aws:kms",
                                "KMSMasterKeyID": {"Fn::GetAtt": ["Key", "Arn"]},
                            }
                        }
                    ]
                }
            },
        },
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {}, "Path": "/jobs/"}},
        "RolePolicy": {
            "Type": "AWS::IAM::Policy",
            "Properties": {"PolicyName": "p", "Roles": [{"Ref": "Role"}], "PolicyDocument": {"Statement": []}},
        },
        "Model": {
            "Type": "AWS::SageMaker::Model",
            "Properties": {
                "ExecutionRoleArn": {"Fn::GetAtt": ["Role", "Arn"]},
                "PrimaryContainer": {
                    "ModelDataUrl": {"Fn::Join": ["", ["s3://", {"Ref": "Bucket"}, "/m.tar.gz"]]},
                    "Image": {"Fn::Sub": "${AWS::AccountId}.dkr.ecr.${AWS::Region}.amazonaws.com/x:${Tag}"},
                    "Environment": {
                        "A": {"Fn::Select": [1, {"Fn::Split": [",", "x,y"]}]},
                        "B": {"Ref": "AWS::NoValue"},
                    },
                },
            },
        },
    },
    "Parameters": {"Tag": {"Type": "String", "Default": "1.0"}},
}


def test_intrinsics_resolve_to_the_deployed_names_and_novalue_drops_the_key():
    with Cloud() as cloud:
        stack = Deployment(cloud, account="111111111111", region="us-east-1").create("S", TEMPLATE)
    container = stack.resources["Model"].properties["PrimaryContainer"]
    bucket = stack.resources["Bucket"].physical_id
    assert container["ModelDataUrl"] == f"s3://{bucket}/m.tar.gz"
    assert container["Image"] == "111111111111.dkr.ecr.us-east-1.amazonaws.com/x:1.0"
    assert container["Environment"] == {"A": "y"}
    assert stack.resources["Role"].attributes["Arn"].startswith("arn:aws:iam::111111111111:role/jobs/")
    assert cloud.directory.buckets[bucket].key_arn == stack.resources["Key"].attributes["Arn"]


def test_a_resource_waits_only_for_what_it_references_or_depends_on():
    with Cloud() as cloud:
        stack = Deployment(cloud, account="111111111111", region="us-east-1").create("S", TEMPLATE)
    assert stack.exists_before("Model") == {"Role", "Bucket", "Key"}, "the role's policy may come later"
    waiting = {**TEMPLATE["Resources"], "Model": {**TEMPLATE["Resources"]["Model"], "DependsOn": ["RolePolicy"]}}
    assert "RolePolicy" in stack.__class__("S", "1", "r", {"Resources": waiting}).exists_before("Model")


def test_an_unknown_intrinsic_or_missing_attribute_fails_the_deployment_by_name():
    missing = {
        "Resources": {
            "Key": TEMPLATE["Resources"]["Key"],
            "Topic": {
                "Type": "AWS::SNS::Topic",
                "Properties": {"KmsMasterKeyId": {"Fn::GetAtt": ["Key", "KeyArnTypo"]}},
            },
        }
    }
    unknown = {
        "Resources": {
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": {"Fn::Cidr": ["10.0.0.0/16", 2, 8]}}}
        }
    }
    with Cloud() as cloud:
        with pytest.raises(DeployError, match=r"Key\.KeyArnTypo: AWS::KMS::Key has no such attribute"):
            Deployment(cloud, account="111111111111", region="us-east-1").create("S", missing)
        with pytest.raises(DeployError, match="does not resolve Fn::Cidr"):
            Deployment(cloud, account="111111111111", region="us-east-1").create("T", unknown)


def test_an_endpoint_config_whose_model_is_not_created_fails_as_createendpointconfig_does():
    """Planted defect (issue 29): a variant naming a model nothing creates; the rehearsal only named the config."""
    template = {
        "Resources": {
            "Config": {
                "Type": "AWS::SageMaker::EndpointConfig",
                "Properties": {
                    "ProductionVariants": [
                        {
                            "ModelName": "textclf-dev-serving",
                            "VariantName": "AllTraffic",
                            "ServerlessConfig": {"MemorySizeInMB": 3072, "MaxConcurrency": 5},
                        }
                    ]
                },
            }
        }
    }
    with Cloud() as cloud, pytest.raises(DeployError, match='Could not find model "textclf-dev-serving"'):
        Deployment(cloud, account="111111111111", region="us-east-1").create("S", template)


def test_replacing_one_stacks_policy_leaves_another_stacks_policy_of_the_same_logical_id_attached():
    """Found in issue 32: Staging-Mlops and Prod-Mlops share logical ids; replacing prod's model-role policy detached
    staging's too, so staging's model role lost its read of the model data in the emulator, never in AWS."""

    def stack(statement_sid: str) -> dict:
        return {
            "Resources": {
                "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {}}},
                "RolePolicy": {
                    "Type": "AWS::IAM::Policy",
                    "Properties": {
                        "PolicyName": "p",
                        "Roles": [{"Ref": "Role"}],
                        "PolicyDocument": {"Statement": [{"Sid": statement_sid, "Effect": "Allow"}]},
                    },
                },
            }
        }

    with Cloud() as cloud:
        staging = Deployment(cloud, account="111111111111", region="us-east-1")
        staging_stack = staging.create("Staging", stack("A"))
        prod = Deployment(cloud, account="111111111111", region="us-east-1")
        prod.create("Prod", stack("A"))
        prod.update(stack("B"))  # a changed policy is replaced: the old one is detached first
        role = cloud.directory.roles[staging_stack.resources["Role"].attributes["Arn"]]
        assert [p.document["Statement"][0]["Sid"] for p in role.policies] == ["A"]
