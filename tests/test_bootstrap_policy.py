"""The scoped execution policies for `cdk bootstrap` (stacks/bootstrap_policy.py, `textclf bootstrap-policy`).

Computed from a fresh synth of the pipeline and the stages it releases; each decision below is the IAM
policy engine's (@cloud-copilot/iam-simulate) on the written policy, as CloudFormation's execution role.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from cli.bootstrap_policy import policies
from rehearsal import synth
from rehearsal.cloudformation.assets import BOOTSTRAP_TEMPLATE
from stacks.bootstrap_policy import (
    LEFT_OUT,
    MAX_POLICY_CHARACTERS,
    execution_policy,
    handler_permissions,
    policy_characters,
)
from stacks.boundary import QUALIFIER, SERVICES, boundary_name, boundary_policy
from stacks.cfn_text import render

ACCOUNT, REGION = "111122223333", "us-east-1"
EXECUTION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/cdk-hnb659fds-cfn-exec-role-{ACCOUNT}-{REGION}"
# The project's boundary, which every role of ours carries (stacks/boundary.py).
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/textclf-permissions-boundary"
WITH_BOUNDARY = {"iam:PermissionsBoundary": BOUNDARY}
OUR_ROLE = f"arn:aws:iam::{ACCOUNT}:role/Prod-Mlops-RolesTrainingRole-AbC123"


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[dict[str, dict], Path]:
    outdir = tmp_path_factory.mktemp("bootstrap")
    return policies(outdir), outdir / "assembly"


# A key policy that leaves decisions to IAM policies, as CDK's default key policy does: KMS needs one.
KEY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"}
    ],
}


def decide(engine, policy: dict, action: str, resource: str, context: dict | None = None) -> str:
    answer = engine.simulate(
        {
            "identityPolicies": [{"name": "execution", "policy": policy}],
            "serviceControlPolicies": [],
            "resourceControlPolicies": [],
            **({"resourcePolicy": KEY_POLICY} if action.startswith("kms:") else {}),
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
    assert set(found) == {"stage", "tooling", "boundary"}
    for policy in found.values():
        assert policy_characters(policy) <= MAX_POLICY_CHARACTERS


def test_cloudformation_may_create_and_manage_every_role_the_stacks_create(engine, written):
    found, assembly = written
    roles = stack_roles(assembly)
    assert len(roles) > 20 and any("/smoke-test/" in r for r in roles)
    for role in roles:
        for action in ("iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRole", "iam:UpdateAssumeRolePolicy"):
            assert decide(engine, found["stage"], action, role, WITH_BOUNDARY) == "Allowed", (action, role)
        passed = {"iam:PassedToService": "sagemaker.amazonaws.com"}
        assert decide(engine, found["stage"], "iam:PassRole", role, passed) == "Allowed", role


def test_every_role_the_templates_create_carries_the_projects_boundary(written):
    _, assembly = written
    roles = [
        (path.name, logical_id, resource["Properties"])
        for path in assembly.rglob("*.template.json")
        for logical_id, resource in json.loads(path.read_text())["Resources"].items()
        if resource["Type"] == "AWS::IAM::Role"
    ]
    assert len(roles) > 30
    for template, logical_id, properties in roles:
        boundary = json.dumps(properties.get("PermissionsBoundary"))
        assert ':policy/textclf-permissions-boundary"' in boundary, (template, logical_id)


@pytest.mark.parametrize(
    "action, resource, context",
    [
        # An admin role: created without the boundary, or with another policy as its boundary.
        ("iam:CreateRole", OUR_ROLE, {}),
        ("iam:CreateRole", OUR_ROLE, {"iam:PermissionsBoundary": "arn:aws:iam::aws:policy/AdministratorAccess"}),
        # An admin policy on a role of ours that has no boundary (iam:PermissionsBoundary is then absent).
        ("iam:PutRolePolicy", OUR_ROLE, {}),
        ("iam:UpdateAssumeRolePolicy", OUR_ROLE, {}),
        ("iam:DeleteRolePermissionsBoundary", OUR_ROLE, WITH_BOUNDARY),
        # Our role handed to a service none of our roles trusts, e.g. an instance profile's.
        ("iam:PassRole", OUR_ROLE, {"iam:PassedToService": "ec2.amazonaws.com"}),
        # Another team's resources in the same account.
        ("lambda:UpdateFunctionCode", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:payments-api", {}),
        ("lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:payments-api", {}),
        ("s3:PutBucketPolicy", "arn:aws:s3:::payments-ledger", {}),
        ("s3:DeleteBucketPolicy", "arn:aws:s3:::payments-ledger", {}),
        ("s3:DeleteObject", "arn:aws:s3:::payments-ledger/2026/ledger.csv", {}),
        ("kms:PutKeyPolicy", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab", {}),
        ("kms:ScheduleKeyDeletion", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab", {}),
        (
            "kms:ScheduleKeyDeletion",
            f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            {"aws:ResourceTag/project": "payments"},
        ),
        ("sagemaker:PutModelPackageGroupPolicy", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package-group/fraud", {}),
        # Issue 45, finding 3: what the statement on "*" allowed on any team's resources.
        ("sns:Subscribe", f"arn:aws:sns:{REGION}:{ACCOUNT}:security-alerts", {}),
        ("sns:SetTopicAttributes", f"arn:aws:sns:{REGION}:{ACCOUNT}:security-alerts", {}),
        ("sns:DeleteTopic", f"arn:aws:sns:{REGION}:{ACCOUNT}:security-alerts", {}),
        ("logs:DeleteLogGroup", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:aws-cloudtrail-logs-{ACCOUNT}", {}),
        ("logs:PutRetentionPolicy", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:aws-cloudtrail-logs-{ACCOUNT}", {}),
        ("events:PutTargets", f"arn:aws:events:{REGION}:{ACCOUNT}:rule/guardduty-findings", {}),
        ("events:DeleteRule", f"arn:aws:events:{REGION}:{ACCOUNT}:rule/guardduty-findings", {}),
        ("sagemaker:DeleteEndpoint", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/fraud-scoring", {}),
        ("sagemaker:UpdatePipeline", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/fraud-training", {}),
        ("cloudwatch:DeleteAlarms", f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:billing-over-budget", {}),
    ],
)
def test_a_stage_deployment_cannot_escalate_or_touch_what_is_not_ours(engine, written, action, resource, context):
    found, _ = written
    assert decide(engine, found["stage"], action, resource, context) != "Allowed"


@pytest.mark.parametrize(
    "action, resource, context",
    [
        ("iam:PutRolePermissionsBoundary", OUR_ROLE, WITH_BOUNDARY),  # a role deployed before the boundary gets it
        ("lambda:UpdateFunctionCode", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:Prod-Mlops-CopyFn-AbC123", {}),
        ("s3:PutBucketPolicy", "arn:aws:s3:::prod-mlops-storagedatasetbucket-abc123", {}),
        ("s3:DeleteObject", "arn:aws:s3:::prod-mlops-storagedatasetbucket-abc123/datasets/train.csv", {}),
        ("s3:PutBucketPolicy", f"arn:aws:s3:::textclf-prod-models-{ACCOUNT}-{REGION}", {}),
        (
            "kms:PutKeyPolicy",
            f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            {"aws:ResourceTag/project": "textclf"},
        ),
        (
            "sagemaker:PutModelPackageGroupPolicy",
            f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package-group/textclf-prod",
            {},
        ),
    ],
)
def test_the_same_actions_on_our_own_resources_are_allowed(engine, written, action, resource, context):
    found, _ = written
    assert decide(engine, found["stage"], action, resource, context) == "Allowed"


@pytest.mark.parametrize(
    "action, resource",
    [
        ("sagemaker:CreateEndpoint", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/textclf-prod"),
        ("sagemaker:CreatePipeline", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/textclf-prod-training"),
        ("s3:CreateBucket", "arn:aws:s3:::prod-mlops-storagedatasetbucket-abc"),
        ("lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:Prod-Mlops-ReleasedModelFunction"),
        ("logs:CreateLogGroup", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/textclf-prod"),
        (
            "logs:PutRetentionPolicy",
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:Prod-Mlops-ServingQualityProbeLogs-AbC",
        ),
        ("sns:CreateTopic", f"arn:aws:sns:{REGION}:{ACCOUNT}:Prod-Mlops-ServingAlarmTopic-AbC123"),
        ("sns:Subscribe", f"arn:aws:sns:{REGION}:{ACCOUNT}:Prod-Mlops-ServingAlarmTopic-AbC123"),
        ("events:PutTargets", f"arn:aws:events:{REGION}:{ACCOUNT}:rule/Prod-Mlops-ServingQualityProbeSchedule-AbC"),
        ("cloudwatch:PutMetricAlarm", f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:Prod-Mlops-ServingProbeAlarm-AbC"),
        ("sagemaker:UpdateEndpoint", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/textclf-prod"),
        ("sagemaker:CreateModel", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/textclf-prod-3ec5a682f491"),
        ("sagemaker:DeleteEndpointConfig", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint-config/textclf-prod-6ecb"),
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
        ("iam:AttachRolePolicy", OUR_ROLE),
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


def test_the_tooling_account_may_build_the_pipeline_and_change_only_its_own_builds_and_roles(engine, written):
    found, _ = written
    tooling = found["tooling"]
    project = f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/x"
    assert decide(engine, tooling, "codebuild:CreateProject", project, {"aws:RequestTag/project": "textclf"}) == (
        "Allowed"
    )
    assert decide(engine, tooling, "codebuild:CreateProject", project) != "Allowed", "only with our tag"
    # Changing a build: ours only (tagged), and a delivery role's policy only while it carries the boundary.
    assert decide(engine, tooling, "codebuild:UpdateProject", project, {"aws:ResourceTag/project": "textclf"}) == (
        "Allowed"
    )
    assert decide(engine, tooling, "codebuild:UpdateProject", project) != "Allowed"
    delivery_role = f"arn:aws:iam::{ACCOUNT}:role/Delivery-DeliveryCodePipelineRole-AbC123"
    assert decide(engine, tooling, "iam:PutRolePolicy", delivery_role, WITH_BOUNDARY) == "Allowed"
    assert decide(engine, tooling, "iam:PutRolePolicy", delivery_role) != "Allowed"
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


def test_the_execution_role_carries_the_boundary_our_roles_name_once_bootstrapped_with_it(written):
    """`cdk bootstrap --custom-permissions-boundary <name>` gives CloudFormation's execution role the managed policy of
    that name in its own account (the pinned CLI's template); our roles name the same policy, and the qualifier is
    the one our stacks deploy with."""
    from aws_cdk import DefaultStackSynthesizer

    found, assembly = written
    assert QUALIFIER == DefaultStackSynthesizer.DEFAULT_QUALIFIER
    execution_role = yaml.safe_load(BOOTSTRAP_TEMPLATE.read_text())["Resources"]["CloudFormationExecutionRole"]
    given = execution_role["Properties"]["PermissionsBoundary"]["Fn::If"][1]["Fn::Sub"]
    assert given == "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/${InputPermissionsBoundary}"
    assert found["boundary"] == boundary_policy("textclf", [s.name for s in synth.stacks(assembly)], "Delivery")
    named = {
        render(resource["Properties"]["PermissionsBoundary"])
        for path in assembly.rglob("*.template.json")
        for resource in json.loads(path.read_text())["Resources"].values()
        if resource["Type"] == "AWS::IAM::Role"
    }
    assert named == {f"arn:<AWS::Partition>:iam::<AWS::AccountId>:policy/{boundary_name('textclf')}"}


def test_the_boundary_allows_every_service_the_roles_and_the_execution_policies_name(written):
    """The boundary allows only SERVICES: every action a role of the templates is given, and every action
    CloudFormation's handlers need for them (the execution policies), is of one of them."""
    found, assembly = written
    documents = [found["stage"], found["tooling"]]
    for path in assembly.rglob("*.template.json"):
        for resource in json.loads(path.read_text())["Resources"].values():
            properties = resource.get("Properties", {})
            if resource["Type"] == "AWS::IAM::Policy":
                documents.append(properties["PolicyDocument"])
            elif resource["Type"] == "AWS::IAM::Role":
                documents += [policy["PolicyDocument"] for policy in properties.get("Policies", [])]
    named = {
        action.split(":")[0]
        for document in documents
        for statement in document["Statement"]
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }
    assert len(documents) > 30 and named - set(SERVICES) == set(), "add the service to stacks.boundary.SERVICES"
