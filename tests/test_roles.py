"""Roles construct: one role per job, PassRole only to job roles, no managed policies; jobs SageMaker accepts."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Environment, Stack
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Template
from test_training_pipeline import ACCOUNT, REGION, _cfn

from stacks.images import images_for
from stacks.roles import Roles


def build_roles(stack, *, training: str = "ml.g5.xlarge", processing: str = "ml.m5.xlarge") -> Roles:
    return Roles(
        stack,
        "Roles",
        image_repository_arns=images_for("us-east-1").repository_arns,
        data_key=kms.Key(stack, "Key"),
        stage="dev",
        training_instance_type=training,
        processing_instance_type=processing,
    )


@pytest.fixture
def roles_template(bare_stack):
    roles = build_roles(bare_stack)
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


def test_jobs_must_encrypt_volumes_with_the_stage_key(bare_stack):
    roles = build_roles(bare_stack, training="ml.m5.xlarge")  # EBS volumes everywhere
    stack, template = bare_stack, Template.from_stack(bare_stack)
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


# ---- what the pipeline role may start, decided by the IAM policy engine (issue 27) ----------------------------
JOB = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/pipelines-abc-train"
OTHER_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/another-stage"


def pipeline_policy(training: str, processing: str = "ml.m5.xlarge") -> tuple[dict, str]:
    """The pipeline role's synthesized policy, and the stage key's ARN, as tests/test_training_pipeline._cfn
    resolves them."""
    stack = Stack(App(), "Bare", env=Environment(account=ACCOUNT, region=REGION))
    roles = build_roles(stack, training=training, processing=processing)
    role_id = stack.get_logical_id(roles.pipeline_execution.node.default_child)
    key_id = stack.get_logical_id(stack.node.find_child("Key").node.default_child)
    template = Template.from_stack(stack)
    (policy,) = template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role_id}]}}).values()
    return _cfn(policy["Properties"]["PolicyDocument"]), _cfn({"Fn::GetAtt": [key_id, "Arn"]})


def may_start(engine, policy: dict, action: str, instance_type: str, *, volume_key, output_key, resource=JOB) -> bool:
    """The condition keys SageMaker sets on Create*Job (as rehearsal.jobs.check_start computes them)."""
    context = {
        "aws:SecureTransport": "true",
        "aws:RequestTag/stage": "dev",
        "sagemaker:OutputKmsKeyArn": output_key,
        "sagemaker:InstanceTypes": [instance_type],
        "sagemaker:NetworkIsolation": "true",
        "sagemaker:InterContainerTrafficEncryption": "true",
        **({"sagemaker:VolumeKmsKeyArn": volume_key} if volume_key else {}),
    }
    answer = engine.simulate(
        {
            "identityPolicies": [{"name": "pipeline", "policy": policy}],
            "serviceControlPolicies": [],
            "resourceControlPolicies": [],
            "request": {
                "action": action,
                "principal": f"arn:aws:iam::{ACCOUNT}:role/PipelineExecutionRole",
                "resource": {"resource": resource, "accountId": ACCOUNT},
                "contextVariables": context,
            },
        }
    )
    assert answer["decision"] in ("Allowed", "ImplicitlyDenied"), answer
    return answer["decision"] == "Allowed"


def test_on_local_storage_jobs_start_without_a_volume_key_and_only_on_local_storage(engine):
    """SageMaker refuses a volume key on g5; the role must then allow none, and no EBS job without the stage key."""
    policy, key = pipeline_policy("ml.g5.xlarge")
    train = "sagemaker:CreateTrainingJob"
    assert may_start(engine, policy, train, "ml.g5.xlarge", volume_key=None, output_key=key)
    assert may_start(engine, policy, train, "ml.p4d.24xlarge", volume_key=None, output_key=key)
    assert not may_start(engine, policy, train, "ml.m5.xlarge", volume_key=None, output_key=key)
    assert not may_start(engine, policy, train, "ml.m5.xlarge", volume_key=key, output_key=key)


def test_on_ebs_jobs_start_only_with_the_stage_key_on_their_volume(engine):
    policy, key = pipeline_policy("ml.m5.xlarge", processing="ml.m5.xlarge")
    processing = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:processing-job/pipelines-abc-evaluate"
    for action, resource in (("sagemaker:CreateTrainingJob", JOB), ("sagemaker:CreateProcessingJob", processing)):
        for volume_key, allowed in ((key, True), (None, False), (OTHER_KEY, False)):
            decision = may_start(
                engine, policy, action, "ml.m5.xlarge", volume_key=volume_key, output_key=key, resource=resource
            )
            assert decision is allowed, (action, volume_key)


def test_outputs_stay_bound_to_the_stage_key_on_either_storage(engine):
    for training, local in (("ml.g5.xlarge", True), ("ml.m5.xlarge", False)):
        policy, key = pipeline_policy(training)
        volume_key = None if local else key
        train = "sagemaker:CreateTrainingJob"
        assert may_start(engine, policy, train, training, volume_key=volume_key, output_key=key)
        assert not may_start(engine, policy, train, training, volume_key=volume_key, output_key=OTHER_KEY)


def test_the_pipeline_role_tags_a_job_only_as_it_creates_it(engine):
    """Issue 30: AddTags conditioned on the tag alone let dev's pipeline role re-tag a prod job stage=dev, and then
    stop it. SageMaker sets sagemaker:TaggingAction to the creating operation on tag-on-create, and to nothing on a
    later AddTags call."""
    policy, _ = pipeline_policy("ml.g5.xlarge")

    def may_tag(**context: str) -> bool:
        answer = engine.simulate(
            {
                "identityPolicies": [{"name": "pipeline", "policy": policy}],
                "serviceControlPolicies": [],
                "resourceControlPolicies": [],
                "request": {
                    "action": "sagemaker:AddTags",
                    "principal": f"arn:aws:iam::{ACCOUNT}:role/PipelineExecutionRole",
                    "resource": {"resource": JOB, "accountId": ACCOUNT},
                    "contextVariables": {"aws:SecureTransport": "true", "aws:RequestTag/stage": "dev", **context},
                },
            }
        )
        return answer["decision"] == "Allowed"

    assert may_tag(**{"sagemaker:TaggingAction": "CreateTrainingJob"})
    assert not may_tag(), "a prod job re-tagged stage=dev after its creation"
    assert not may_tag(**{"sagemaker:TaggingAction": "CreateProcessingJob"}), (
        "a training job is created by its own call"
    )
