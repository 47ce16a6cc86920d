"""The project's permissions boundary (stacks/boundary.py), decided by the IAM policy engine (iam-simulate).

Issue 45, finding 1: a role bounded by aws-cdk's example boundary, given `*:*`, could still reach admin. Each route
below is taken by such a role, bounded by ours instead; what our stacks' roles and CloudFormation do still passes.
"""

from __future__ import annotations

import pytest

from stacks.boundary import boundary_policy

ACCOUNT, REGION = "111122223333", "us-east-1"
PREFIX = "textclf"
STACKS = ["Delivery", "Dev-Mlops", "Prod-Mlops", "Staging-Mlops"]
BOUNDARY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/{PREFIX}-permissions-boundary"
# A role of ours that was given everything: what an escalation starts from.
ESCALATING = f"arn:aws:iam::{ACCOUNT}:role/Dev-Mlops-RolesTrainingRole-AbC123"
EVERYTHING = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
DEPLOY_ROLE = f"arn:aws:iam::{ACCOUNT}:role/cdk-hnb659fds-deploy-role-{ACCOUNT}-{REGION}"
# CloudFormation's execution role: the one principal under the boundary that writes IAM and pipelines.
EXECUTION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/cdk-hnb659fds-cfn-exec-role-{ACCOUNT}-{REGION}"
ORGANIZATION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/OrganizationAccountAccessRole"
EXECUTION_POLICY = f"arn:aws:iam::{ACCOUNT}:policy/{PREFIX}-stage-cloudformation-execution"
OUR_ROLE = f"arn:aws:iam::{ACCOUNT}:role/Prod-Mlops-ServingModelRole-XyZ789"
SMOKE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/{PREFIX}-prod/smoke-test/Prod-Mlops-SmokeTestRole-AbC"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
WITH_OURS = {"iam:PermissionsBoundary": BOUNDARY_ARN}


PIPELINE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/Delivery-DeliveryCodePipelineRole-AbC123"


def decide(engine, action: str, resource: str, context: dict | None = None, principal: str = ESCALATING) -> str:
    """As ``principal`` (by default a stage's role given everything), bounded by the project's boundary."""
    answer = engine.simulate(
        {
            "identityPolicies": [{"name": "everything", "policy": EVERYTHING}],
            "serviceControlPolicies": [],
            "resourceControlPolicies": [],
            "permissionBoundaryPolicies": [{"name": "boundary", "policy": boundary_policy(PREFIX, STACKS, "Delivery")}],
            "request": {
                "action": action,
                "principal": principal,
                "resource": {"resource": resource, "accountId": ACCOUNT},
                "contextVariables": {"aws:PrincipalArn": principal, **(context or {})},
            },
        }
    )
    return answer["decision"]


@pytest.mark.parametrize(
    "action, resource, context",
    [
        # Admin on a role without the boundary: the bootstrap's deploy role, the organization's access role.
        ("iam:AttachRolePolicy", DEPLOY_ROLE, {"iam:PolicyARN": ADMIN}),
        ("iam:PutRolePolicy", ORGANIZATION_ROLE, {}),
        ("iam:UpdateAssumeRolePolicy", ORGANIZATION_ROLE, {}),
        ("iam:AttachRolePolicy", DEPLOY_ROLE, {"iam:PolicyARN": ADMIN, "iam:PermissionsBoundary": ADMIN}),
        # A role made, or re-bounded, outside the boundary; the boundary taken off one of ours.
        ("iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/{PREFIX}-admin", {}),
        ("iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/{PREFIX}-admin", {"iam:PermissionsBoundary": ADMIN}),
        ("iam:PutRolePermissionsBoundary", OUR_ROLE, {"iam:PermissionsBoundary": ADMIN}),
        ("iam:DeleteRolePermissionsBoundary", OUR_ROLE, WITH_OURS),
        # What a policy allows, changed by a new default version: the execution policy's, the boundary's own.
        ("iam:CreatePolicyVersion", EXECUTION_POLICY, {}),
        ("iam:SetDefaultPolicyVersion", EXECUTION_POLICY, {}),
        ("iam:CreatePolicyVersion", BOUNDARY_ARN, {}),
        # Users and credentials.
        ("iam:CreateUser", f"arn:aws:iam::{ACCOUNT}:user/backdoor", {"iam:PermissionsBoundary": BOUNDARY_ARN}),
        ("iam:CreateAccessKey", f"arn:aws:iam::{ACCOUNT}:user/admin", {}),
        ("iam:CreateLoginProfile", f"arn:aws:iam::{ACCOUNT}:user/admin", {}),
        ("iam:AddUserToGroup", f"arn:aws:iam::{ACCOUNT}:group/Administrators", {}),
        # Roles that are not ours: assumed, passed to a service, or tagged to look like ours.
        ("sts:AssumeRole", ORGANIZATION_ROLE, {}),
        ("sts:AssumeRole", EXECUTION_ROLE, {}),
        ("sts:AssumeRole", DEPLOY_ROLE, {"iam:ResourceTag/aws-cdk:bootstrap-role": "admin"}),
        ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/Admin", {"iam:PassedToService": "lambda.amazonaws.com"}),
        ("iam:PassRole", EXECUTION_ROLE, {"iam:PassedToService": "cloudformation.amazonaws.com"}),
        ("iam:TagRole", DEPLOY_ROLE, {"aws:RequestTag/project": PREFIX}),
        # Code that runs as someone else's role: changed or started.
        ("lambda:UpdateFunctionCode", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:payments-api", {}),
        ("lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:payments-api", {}),
        ("codebuild:StartBuild", f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/ops-admin", {}),
        (
            "sagemaker:CreatePresignedNotebookInstanceUrl",
            f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:notebook-instance/n",
            {},
        ),
        # A service no stack uses.
        ("ec2:RunInstances", f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/*", {}),
        ("ssm:SendCommand", f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0123456789abcdef0", {}),
        # The review of this boundary: IAM at run time at all (our boundary on a role that is not ours, then a trust
        # on it; a role of ours trusting another account), identity providers, approvals, pipelines, the bootstrap
        # deploy role from a stage's role or of another qualifier, the bootstrap's assets, others' build sandboxes.
        ("iam:PutRolePermissionsBoundary", DEPLOY_ROLE, WITH_OURS),
        ("iam:PutRolePermissionsBoundary", ORGANIZATION_ROLE, WITH_OURS),
        ("iam:UpdateAssumeRolePolicy", OUR_ROLE, WITH_OURS),
        ("iam:PutRolePolicy", OUR_ROLE, WITH_OURS),
        ("iam:CreateRole", OUR_ROLE, WITH_OURS),
        ("iam:UpdateSAMLProvider", f"arn:aws:iam::{ACCOUNT}:saml-provider/corporate-sso", {}),
        ("iam:CreateOpenIDConnectProvider", f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.example.com", {}),
        (
            "codepipeline:PutApprovalResult",
            f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:Delivery-Pipeline/Prod/Promote",
            {},
        ),
        ("codepipeline:UpdatePipeline", f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:Delivery-Pipeline", {}),
        ("sts:AssumeRole", DEPLOY_ROLE, {"iam:ResourceTag/aws-cdk:bootstrap-role": "deploy"}),
        ("sts:AssumeRole", f"arn:aws:iam::{ACCOUNT}:role/cdk-hnb659fds-lookup-role-{ACCOUNT}-{REGION}", {}),
        ("s3:PutObject", f"arn:aws:s3:::cdk-hnb659fds-assets-{ACCOUNT}-{REGION}/0a1b2c.zip", {}),
        (
            "sagemaker:DeleteModelPackageGroupPolicy",
            f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package-group/textclf-dev",
            {},
        ),
        ("codebuild:StartSandbox", f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/ops-admin", {}),
    ],
)
def test_a_bounded_role_given_everything_cannot_leave_the_boundary(engine, action, resource, context):
    assert decide(engine, action, resource, context) != "Allowed"


@pytest.mark.parametrize(
    "role",
    [
        f"arn:aws:iam::{ACCOUNT}:role/cdk-hnb659fds-deploy-role-{ACCOUNT}-eu-west-1",
        f"arn:aws:iam::{ACCOUNT}:role/cdk-other123-deploy-role-{ACCOUNT}-{REGION}",
    ],
    ids=["another-region", "another-qualifier"],
)
def test_the_pipeline_assumes_only_our_qualifiers_bootstrap_roles(engine, role):
    tag = {"iam:ResourceTag/aws-cdk:bootstrap-role": "deploy"}
    assert decide(engine, "sts:AssumeRole", DEPLOY_ROLE, tag, principal=PIPELINE_ROLE) == "Allowed"
    expected = "Allowed" if "hnb659fds" in role else "ExplicitlyDenied"
    assert decide(engine, "sts:AssumeRole", role, tag, principal=PIPELINE_ROLE) == expected


@pytest.mark.parametrize(
    "action, resource, context",
    [
        # What CloudFormation does for our templates, as its execution role.
        ("iam:CreateRole", OUR_ROLE, WITH_OURS),
        ("iam:PutRolePolicy", OUR_ROLE, WITH_OURS),
        ("iam:UpdateAssumeRolePolicy", OUR_ROLE, WITH_OURS),
        ("iam:DeleteRole", OUR_ROLE, WITH_OURS),
        ("iam:TagRole", OUR_ROLE, {"aws:RequestTag/project": PREFIX}),
        ("iam:CreateServiceLinkedRole", f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/x/y", {}),
        ("codepipeline:UpdatePipeline", f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:Delivery-Pipeline", {}),
        (
            "sagemaker:PutModelPackageGroupPolicy",
            f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package-group/textclf-dev",
            {},
        ),
    ],
)
def test_what_cloudformation_does_for_our_templates_stays_allowed(engine, action, resource, context):
    assert decide(engine, action, resource, context, principal=EXECUTION_ROLE) == "Allowed"


@pytest.mark.parametrize(
    "action, resource, context",
    [
        # What our roles do at run time.
        ("iam:PassRole", OUR_ROLE, {"iam:PassedToService": "sagemaker.amazonaws.com"}),
        ("iam:PassRole", SMOKE_ROLE, {"iam:PassedToService": "codebuild.amazonaws.com"}),
        ("sts:AssumeRole", SMOKE_ROLE, {"iam:ResourceTag/project": PREFIX}),
        ("codepipeline:StartPipelineExecution", f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:Delivery-Pipeline", {}),
        ("lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:Dev-Mlops-BaselineFn-AbC", {}),
        (
            "codebuild:StartBuild",
            f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/Synth",
            {"aws:ResourceTag/project": PREFIX},
        ),
        ("s3:GetObject", "arn:aws:s3:::dev-mlops-storagedatasetbucket-abc/datasets/train.csv", {}),
        ("sagemaker:CreateTrainingJob", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/j", {}),
    ],
)
def test_what_the_stacks_and_their_roles_do_stays_allowed(engine, action, resource, context):
    assert decide(engine, action, resource, context) == "Allowed"
