"""CloudFormation's requests, refused as the services refuse them: planted defects in resolved resource properties.

Each defect is a property value that CloudFormation's own schema accepts (cfn-lint's E3 rules check types and
names) and that the rehearsal deployed before, because it only named these resources; the service refuses the
request made from it, by botocore's model or by the rule SageMaker's documentation states.
"""

from __future__ import annotations

import copy

import pytest

from rehearsal.cloud import Cloud
from rehearsal.cloudformation.engine import Deployment
from rehearsal.cloudformation.model import DeployError, Stack
from rehearsal.cloudformation.requests import CALLS, check_requests

ROLE = "arn:aws:iam::111111111111:role/Dev-Mlops-ModelRole-ABC"
KEY = "arn:aws:kms:us-east-1:111111111111:key/0b6f6c1e-1111-2222-3333-444455556666"
# Resolved properties as the synthesized stage and delivery templates have them (names shortened).
RESOURCES = {
    "EndpointConfig": (
        "AWS::SageMaker::EndpointConfig",
        {
            "KmsKeyId": KEY,
            "ProductionVariants": [
                {
                    "ModelName": "Dev-Mlops-ServingModel-1A2B3C",
                    "VariantName": "AllTraffic",
                    "ServerlessConfig": {"MemorySizeInMB": 3072, "MaxConcurrency": 5, "ProvisionedConcurrency": 1},
                }
            ],
        },
    ),
    "Function": (
        "AWS::Lambda::Function",
        {
            "Code": {"S3Bucket": "cdk-assets-111111111111-us-east-1", "S3Key": "f7eb5af2.zip"},
            "Handler": "baseline.handler",
            "Role": ROLE,
            "Runtime": "python3.14",
            "Timeout": 60,
            "MemorySize": 512,
            "Environment": {"Variables": {"GROUP": "dev-models"}},
            "Tags": [{"Key": "project", "Value": "textclf"}],
        },
    ),
    "Build": (
        "AWS::CodeBuild::Project",
        {
            "Artifacts": {"Type": "CODEPIPELINE"},
            "Environment": {
                "ComputeType": "BUILD_GENERAL1_SMALL",
                "Image": "aws/codebuild/standard:7.0",
                "PrivilegedMode": True,
                "Type": "LINUX_CONTAINER",
            },
            "ServiceRole": ROLE,
            "Source": {"BuildSpec": "{}", "Type": "CODEPIPELINE"},
            "EncryptionKey": KEY,
            "TimeoutInMinutes": 60,
        },
    ),
    "Pipeline": (
        "AWS::CodePipeline::Pipeline",
        {
            "RoleArn": ROLE,
            "ArtifactStore": {"Location": "delivery-artifacts", "Type": "S3"},
            "PipelineType": "V2",
            "Stages": [
                {
                    "Name": "Source",
                    "Actions": [
                        {
                            "Name": "Source",
                            "ActionTypeId": {"Category": "Source", "Owner": "AWS", "Provider": "S3", "Version": "1"},
                            "Configuration": {
                                "S3Bucket": "source",
                                "S3ObjectKey": "src.zip",
                                "PollForSourceChanges": False,
                            },
                            "OutputArtifacts": [{"Name": "Source"}],
                            "RunOrder": 1,
                        }
                    ],
                }
            ],
        },
    ),
    "Role": (
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []},
            "Policies": [{"PolicyName": "inline", "PolicyDocument": {"Version": "2012-10-17", "Statement": []}}],
        },
    ),
    "Rule": (
        "AWS::Events::Rule",
        {
            "EventPattern": {"source": ["aws.sagemaker"]},
            "State": "ENABLED",
            "Targets": [{"Arn": "arn:aws:sns:us-east-1:111111111111:alerts", "Id": "Target0"}],
        },
    ),
}

PLANTED = {
    # SageMaker: botocore's documentation of ProductionVariantServerlessConfig
    "serverless-memory-not-whole-gb": (
        "EndpointConfig",
        lambda p: p["ProductionVariants"][0]["ServerlessConfig"].update(MemorySizeInMB=3000),
        '"Valid values are in 1 GB increments',
    ),
    "serverless-provisioned-over-maximum": (
        "EndpointConfig",
        lambda p: p["ProductionVariants"][0]["ServerlessConfig"].update(ProvisionedConcurrency=8),
        "ProvisionedConcurrency 8 > MaxConcurrency 5",
    ),
    "serverless-memory-over-maximum": (
        "EndpointConfig",
        lambda p: p["ProductionVariants"][0]["ServerlessConfig"].update(MemorySizeInMB=10240),
        "MemorySizeInMB: 10240 is over ServerlessMemorySizeInMB's maximum 6144",
    ),
    "variant-name-pattern": (
        "EndpointConfig",
        lambda p: p["ProductionVariants"][0].update(VariantName="All traffic"),
        "does not match VariantName's pattern",
    ),
    # Lambda: botocore's model of CreateFunction
    "function-memory-over-maximum": (
        "Function",
        lambda p: p.update(MemorySize=40960),
        "MemorySize: 40960 is over MemorySize's maximum 32768",
    ),
    "function-runtime-unknown": (
        "Function",
        lambda p: p.update(Runtime="python3.99"),
        "is not one of Runtime's",
    ),
    # CodeBuild: botocore's model of CreateProject
    "build-compute-type-typo": (
        "Build",
        lambda p: p["Environment"].update(ComputeType="BUILD_GENERAL_SMALL"),
        "environment.computeType: 'BUILD_GENERAL_SMALL' is not one of ComputeType's",
    ),
    "build-timeout-over-maximum": (
        "Build",
        lambda p: p.update(TimeoutInMinutes=3000),
        "timeoutInMinutes: 3000 is over BuildTimeOut's maximum",
    ),
    # CodePipeline: botocore's model of CreatePipeline
    "pipeline-action-name-pattern": (
        "Pipeline",
        lambda p: p["Stages"][0]["Actions"][0].update(Name="Source (S3)"),
        "does not match ActionName's pattern",
    ),
    # IAM and EventBridge
    "inline-policy-name-pattern": (
        "Role",
        lambda p: p["Policies"][0].update(PolicyName="inline policy"),
        "PutRolePolicy.PolicyName: 'inline policy' does not match policyNameType's pattern",
    ),
    "rule-state-typo": ("Rule", lambda p: p.update(State="ENABLE"), "is not one of RuleState's"),
    "rule-target-id-too-long": (
        "Rule",
        lambda p: p["Targets"][0].update(Id="t" * 65),
        "Targets[0].Id: 65 characters, over TargetId's maximum 64",
    ),
}


@pytest.fixture(scope="module")
def placement():
    with Cloud() as cloud:
        deployment = Deployment(cloud, account="111111111111", region="us-east-1")
        deployment.stack = Stack("Dev-Mlops", "111111111111", "us-east-1", {"Resources": {}})
        yield deployment


@pytest.mark.parametrize("logical_id", sorted(RESOURCES))
def test_the_synthesized_properties_pass(placement, logical_id):
    resource_type, properties = RESOURCES[logical_id]
    check_requests(placement, logical_id, resource_type, properties)


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_each_planted_defect_is_refused_naming_the_resource_and_the_rule(placement, name):
    logical_id, edit, expected = PLANTED[name]
    resource_type, properties = RESOURCES[logical_id]
    planted = copy.deepcopy(properties)
    edit(planted)
    with pytest.raises(DeployError) as refused:
        check_requests(placement, logical_id, resource_type, planted)
    message = str(refused.value)
    assert message.startswith(f"Dev-Mlops/{logical_id} ({resource_type}): CREATE_FAILED: ")
    assert expected in message and "Fix:" in message


def test_every_planted_class_of_resource_has_a_call_the_engine_makes():
    assert {RESOURCES[logical_id][0] for logical_id, _, _ in PLANTED.values()} <= set(CALLS)
