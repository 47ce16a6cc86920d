"""The scoped execution policies for `cdk bootstrap` (stacks/bootstrap_policy.py, `textclf bootstrap-policy`).

Computed from a fresh synth of the pipeline and the stages it releases; each decision below is the IAM
policy engine's (@cloud-copilot/iam-simulate) on the written policy, as CloudFormation's execution role.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.bootstrap_policy import policies
from rehearsal import synth
from stacks.bootstrap_policy import (
    LEFT_OUT,
    MAX_POLICY_CHARACTERS,
    execution_policy,
    handler_permissions,
    policy_characters,
)

ACCOUNT, REGION = "111122223333", "us-east-1"
EXECUTION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/cdk-hnb659fds-cfn-exec-role-{ACCOUNT}-{REGION}"


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[dict[str, dict], Path]:
    outdir = tmp_path_factory.mktemp("bootstrap")
    return policies(outdir), outdir / "assembly"


def decide(engine, policy: dict, action: str, resource: str, context: dict | None = None) -> str:
    answer = engine.simulate(
        {
            "identityPolicies": [{"name": "execution", "policy": policy}],
            "serviceControlPolicies": [],
            "resourceControlPolicies": [],
            "request": {
                "action": action,
                "principal": EXECUTION_ROLE,
                "resource": {"resource": resource, "accountId": ACCOUNT},
                "contextVariables": context or {},
            },
        }
    )
    return answer["decision"]


def stack_roles(assembly: Path) -> list[str]:
    """Every role ARN the stage templates create, named as CloudFormation names them."""
    arns = []
    for stack in synth.stacks(assembly):
        if not stack.template_path.parent.name.startswith("assembly-"):
            continue
        for logical_id, resource in stack.template["Resources"].items():
            if resource["Type"] == "AWS::IAM::Role":
                properties = resource["Properties"]
                name = properties.get("RoleName") or f"{stack.name}-{logical_id}-AbC123dEf456"[:64]
                arns.append(f"arn:aws:iam::{ACCOUNT}:role{properties.get('Path', '/')}{name}")
    return arns


def test_each_policy_fits_in_one_managed_policy(written):
    found, _ = written
    assert set(found) == {"stage", "tooling"}
    for policy in found.values():
        assert policy_characters(policy) <= MAX_POLICY_CHARACTERS


def test_cloudformation_may_create_and_manage_every_role_the_stacks_create(engine, written):
    found, assembly = written
    roles = stack_roles(assembly)
    assert len(roles) > 20 and any("/smoke-test/" in r for r in roles)
    for role in roles:
        for action in ("iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRole", "iam:PassRole"):
            assert decide(engine, found["stage"], action, role) == "Allowed", (action, role)


@pytest.mark.parametrize(
    "action, resource",
    [
        ("sagemaker:CreateEndpoint", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/textclf-prod"),
        ("sagemaker:CreatePipeline", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/textclf-prod-training"),
        ("s3:CreateBucket", "arn:aws:s3:::prod-mlops-storagedatasetbucket-abc"),
        ("lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:Prod-Mlops-ReleasedModelFunction"),
        ("logs:CreateLogGroup", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/textclf-prod"),
    ],
)
def test_what_the_stage_templates_create_is_allowed(engine, written, action, resource):
    found, _ = written
    assert decide(engine, found["stage"], action, resource) == "Allowed"


@pytest.mark.parametrize(
    "action, resource",
    [
        # What AdministratorAccess would have let a pipeline change do in a stage account.
        ("iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/Administrator"),
        ("iam:PutRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/OrganizationAccountAccessRole"),
        ("iam:AttachRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/Prod-Mlops-RolesTrainingRole-AbC123"),
        ("iam:CreateUser", f"arn:aws:iam::{ACCOUNT}:user/backdoor"),
        ("iam:CreateAccessKey", f"arn:aws:iam::{ACCOUNT}:user/backdoor"),
        ("ec2:RunInstances", f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/*"),
        ("codebuild:CreateProject", f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/miner"),
        ("s3tables:CreateTable", f"arn:aws:s3tables:{REGION}:{ACCOUNT}:bucket/b/table/t"),
    ],
)
def test_nothing_else_is_allowed_in_a_stage_account(engine, written, action, resource):
    found, _ = written
    assert decide(engine, found["stage"], action, resource) != "Allowed"


def test_no_template_attaches_a_managed_policy_so_leaving_attach_out_breaks_nothing(written):
    _, assembly = written
    templates = [json.loads(p.read_text()) for p in assembly.rglob("*.template.json")]
    roles = [r for t in templates for r in t["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    assert roles and not [r for r in roles if "ManagedPolicyArns" in r["Properties"]]
    assert LEFT_OUT & handler_permissions("AWS::IAM::Role") == LEFT_OUT, "the schema still lists what we leave out"


def test_the_tooling_account_may_build_the_pipeline(engine, written):
    found, _ = written
    tooling = found["tooling"]
    assert decide(engine, tooling, "codebuild:CreateProject", f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/x") == (
        "Allowed"
    )
    assert decide(engine, tooling, "codepipeline:CreatePipeline", f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:p") == (
        "Allowed"
    )
    assert decide(engine, tooling, "sagemaker:CreateEndpoint", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/e") != (
        "Allowed"
    ), "the tooling account serves nothing"


def test_a_realtime_stage_may_create_only_the_scaling_service_linked_role(engine):
    """A realtime endpoint's scalable target makes Application Auto Scaling create its service-linked role on first
    use in an account: a role our stacks do not name, allowed by its service name alone."""
    scaled = {"Resources": {"Target": {"Type": "AWS::ApplicationAutoScaling::ScalableTarget"}}}
    policy = execution_policy([scaled], stack_names=["Dev-Mlops"], name_prefix="textclf")
    service = "sagemaker.application-autoscaling.amazonaws.com"
    name = "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
    role = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/{service}/{name}"
    allowed = {"iam:AWSServiceName": service}
    assert decide(engine, policy, "iam:CreateServiceLinkedRole", role, allowed) == "Allowed"
    other = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS"
    assert decide(
        engine, policy, "iam:CreateServiceLinkedRole", other, {"iam:AWSServiceName": "ecs.amazonaws.com"}
    ) != ("Allowed")
    serverless = execution_policy([{"Resources": {}}], stack_names=["Dev-Mlops"], name_prefix="textclf")
    assert decide(engine, serverless, "iam:CreateServiceLinkedRole", role, allowed) != "Allowed"
