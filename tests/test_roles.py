"""Roles construct: one role per job, PassRole only to job roles, no managed policies."""

from __future__ import annotations

import json

import pytest
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Template

from stacks.images import images_for
from stacks.roles import Roles


@pytest.fixture
def roles_template(bare_stack):
    key = kms.Key(bare_stack, "Key")
    roles = Roles(
        bare_stack, "Roles", image_repository_arns=images_for("us-east-1").repository_arns, data_key=key, stage="dev"
    )
    return bare_stack, roles, Template.from_stack(bare_stack)


def _statements(stack, template, role) -> list[dict]:
    role_id = stack.get_logical_id(role.node.default_child)
    policies = template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role_id}]}})
    return [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]


def test_every_role_is_assumed_by_sagemaker_only(roles_template):
    _, _, template = roles_template
    roles = template.find_resources("AWS::IAM::Role")
    assert len(roles) == 5  # training, processing, model, batch transform, pipeline
    for role in roles.values():
        assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
            {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}}
        ]
        assert "ManagedPolicyArns" not in role["Properties"]


def test_pipeline_passes_only_the_job_roles_and_only_to_sagemaker(roles_template):
    stack, roles, template = roles_template
    (pass_role,) = [s for s in _statements(stack, template, roles.pipeline_execution) if s["Action"] == "iam:PassRole"]
    assert sorted(r["Fn::GetAtt"][0] for r in pass_role["Resource"]) == sorted(
        stack.get_logical_id(r.node.default_child) for r in (roles.training, roles.processing, roles.batch_transform)
    )
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}


def test_only_the_pipeline_role_may_pass_roles(roles_template):
    stack, roles, template = roles_template
    for role in (roles.training, roles.processing, roles.model_execution, roles.batch_transform):
        assert not any("iam:" in json.dumps(s["Action"]) for s in _statements(stack, template, role))


def test_jobs_must_encrypt_volumes_with_the_stage_key(roles_template):
    stack, roles, template = roles_template
    creates = [
        s
        for s in _statements(stack, template, roles.pipeline_execution)
        if str(s["Action"]).startswith("sagemaker:Create")
    ]
    by_action = {s["Action"]: s["Condition"] for s in creates}
    assert set(by_action) == {
        "sagemaker:CreateTrainingJob",
        "sagemaker:CreateProcessingJob",
        "sagemaker:CreateModel",
        "sagemaker:CreateTransformJob",
    }
    for action in ("sagemaker:CreateTrainingJob", "sagemaker:CreateProcessingJob", "sagemaker:CreateTransformJob"):
        assert "sagemaker:VolumeKmsKeyArn" in by_action[action]["StringEquals"]
        assert "sagemaker:OutputKmsKeyArn" in by_action[action]["StringEquals"]
    # The batch step's model must be network-isolated, and every created resource carries the stage's tag.
    assert by_action["sagemaker:CreateModel"]["Bool"] == {"sagemaker:NetworkIsolation": "true"}
    assert all(c["StringEquals"]["aws:RequestTag/stage"] == "dev" for c in by_action.values())


def test_job_roles_pull_only_the_pinned_dlc_repositories(roles_template):
    stack, roles, template = roles_template
    expected = sorted(images_for("us-east-1").repository_arns)
    for role in (roles.training, roles.processing, roles.model_execution):
        (pull,) = [s for s in _statements(stack, template, role) if "ecr:BatchGetImage" in s["Action"]]
        assert sorted(pull["Resource"]) == expected
        assert all(":repository/huggingface-pytorch-" in arn for arn in expected)


def test_no_statement_grants_a_wildcard_action(roles_template):
    _, _, template = roles_template
    for policy in template.find_resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert all("*" not in action for action in actions), statement


def test_account_wide_resources_are_limited_to_apis_without_resource_scoping(roles_template):
    _, _, template = roles_template
    for policy in template.find_resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Resource"] == "*":
                assert statement["Action"] in ("ecr:GetAuthorizationToken", "cloudwatch:PutMetricData")


def test_log_access_is_per_job_type(roles_template):
    stack, roles, template = roles_template
    for role, group in (
        (roles.training, "TrainingJobs"),
        (roles.processing, "ProcessingJobs"),
        (roles.batch_transform, "TransformJobs"),
    ):
        (logs,) = [s for s in _statements(stack, template, role) if "logs:PutLogEvents" in s["Action"]]
        assert json.dumps(logs["Resource"]).endswith(f':log-group:/aws/sagemaker/{group}:*"]]}}')


def test_the_model_role_gets_no_logs_or_metrics_here(roles_template):
    """An endpoint logs to /aws/sagemaker/Endpoints/<its name>, which the Serving construct creates and grants."""
    stack, roles, template = roles_template
    actions = json.dumps([s["Action"] for s in _statements(stack, template, roles.model_execution)])
    assert "logs:" not in actions and "cloudwatch:" not in actions
