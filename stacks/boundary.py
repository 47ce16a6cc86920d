"""The permissions boundary of every role our templates create, and of CloudFormation's execution role.

It is ours, versioned with the app: `textclf bootstrap-policy` writes it, it is created once per account as the
managed policy ``<prefix>-permissions-boundary``, and `cdk bootstrap --custom-permissions-boundary` puts it on the
execution role. aws-cdk's example boundary (``--example-permissions-boundary``) only refused unbounded roles and
edits to itself, so a bounded role with ``*:*`` could still attach AdministratorAccess to the unbounded deploy role,
rewrite OrganizationAccountAccessRole, add a version to a policy, or create an access key (issue 45, finding 1).

This one allows only the services the stacks use, and refuses every way out of it:
- IAM is written by CloudFormation's execution role alone (no role of ours writes IAM at run time), and even it
  creates or re-bounds a role only with this boundary, and changes no role that lacks it;
- the boundary is never removed; no policy gets a new version; no user, group, credential or identity provider is
  made;
- only our roles (by the names our stacks give them) are passed to a service, tagged or re-bounded;
- only our roles (tagged ``project``) are assumed, and the bootstrap's deploy and file-publishing roles of our
  qualifier, by the delivery pipeline's roles alone;
- no approval is given and no pipeline changed by a role (CloudFormation's execution role deploys the pipeline);
- the bootstrap's asset bucket and repository are written only by the bootstrap's own publishing roles;
- functions and build projects that are not ours are not changed or run, and no notebook is opened: each runs as
  a role of its own, which may not be bounded.
Plain Python: the stages apply it with stacks.stage.permissions_boundary.
"""

from __future__ import annotations

from collections.abc import Iterable

# The bootstrap qualifier our stacks deploy with: aws-cdk's default (DefaultStackSynthesizer.DEFAULT_QUALIFIER).
QUALIFIER = "hnb659fds"
# The tag every resource of our stacks carries (stacks/mlops_stack.py, stacks/delivery/stack.py).
PROJECT_TAG = "project"
# Every service our roles or CloudFormation's handlers for our templates call (tests/test_boundary.py derives them
# from the synthesized templates and the execution policies, so a new one fails there, naming it).
SERVICES = (
    "application-autoscaling",
    "cloudwatch",
    "codebuild",
    "codepipeline",
    "codestar-connections",
    "ecr",
    "events",
    "iam",
    "kms",
    "lambda",
    "logs",
    "s3",
    "sagemaker",
    "sns",
    "sts",
)
# The bootstrap roles the delivery pipeline assumes (CloudFormation actions, asset publishing), by the tag the
# bootstrap template gives them and by name.
BOOTSTRAP_ROLE_TAG = "aws-cdk:bootstrap-role"
PIPELINE_ASSUMES = ("deploy", "file-publishing")
# What CloudFormation deploys as: the one principal under this boundary that writes IAM or changes a pipeline.
EXECUTION_ROLE = f"arn:*:iam::*:role/cdk-{QUALIFIER}-cfn-exec-role-*"
# What a role may do is changed by these: refused on a role that does not carry this boundary.
ROLE_WRITES = (
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
    "iam:DeleteRole",
)
# IAM writes: CloudFormation's execution role's alone.
IAM_WRITES = (
    "iam:CreateRole",
    "iam:PutRolePermissionsBoundary",
    "iam:TagRole",
    "iam:UntagRole",
    *ROLE_WRITES,
    "iam:CreatePolicy",
    "iam:DeletePolicy",
    "iam:*InstanceProfile*",
    "iam:CreateServiceLinkedRole",
    "iam:DeleteServiceLinkedRole",
)
# What changes a pipeline or lets a release through: CloudFormation's execution role's alone (the pipeline stack).
PIPELINE_WRITES = (
    "codepipeline:CreatePipeline",
    "codepipeline:UpdatePipeline",
    "codepipeline:DeletePipeline",
    "codepipeline:RetryStageExecution",
    "codepipeline:RollbackStage",
    "codepipeline:OverrideStageCondition",
    "codepipeline:*StageTransition",
    "codepipeline:*Webhook*",
    "codepipeline:PutJob*",
    "codepipeline:PutThirdPartyJob*",
    "sagemaker:PutModelPackageGroupPolicy",
    "sagemaker:DeleteModelPackageGroupPolicy",
)
# Never: removing a boundary, a new default policy version (what a policy allows), users, groups, credentials and
# identity providers (a rewritten SAML provider forges logins), an approval.
NEVER = (
    "iam:DeleteRolePermissionsBoundary",
    "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:DeletePolicyVersion",
    "iam:*User*",
    "iam:*Group*",
    "iam:*AccessKey*",
    "iam:*LoginProfile*",
    "iam:*ServiceSpecificCredential*",
    "iam:*SSHPublicKey*",
    "iam:*SigningCertificate*",
    "iam:*MFADevice*",
    "iam:*SAMLProvider*",
    "iam:*OpenIDConnectProvider*",
    "codepipeline:PutApprovalResult",
    "sagemaker:*NotebookInstance*",
    "sagemaker:CreatePresigned*",
)
# Code that runs as its own role: changed or run only where it is ours.
FUNCTION_WRITES = ("lambda:Update*", "lambda:AddPermission", "lambda:Invoke*", "lambda:Publish*", "lambda:Put*")
BUILD_WRITES = ("codebuild:Start*", "codebuild:RetryBuild*", "codebuild:UpdateProject", "codebuild:DeleteProject")
# The bootstrap's asset storage, which a pending release's templates point to by key.
ASSET_WRITES = ("s3:PutObject*", "s3:DeleteObject*", "s3:RestoreObject", "ecr:PutImage", "ecr:BatchDeleteImage")


def boundary_name(name_prefix: str) -> str:
    return f"{name_prefix}-permissions-boundary"


def boundary_arn_pattern(name_prefix: str) -> str:
    """The boundary's ARN in any of our accounts, as an ArnLike condition value (a boundary is always a policy of
    the role's own account)."""
    return f"arn:*:iam::*:policy/{boundary_name(name_prefix)}"


def our_roles(name_prefix: str, stack_names: Iterable[str]) -> list[str]:
    """Every role our stacks create, by name: CloudFormation's generated names start with the stack's, ours with
    the prefix (as a name or as the first part of an IAM path)."""
    return sorted({f"arn:*:iam::*:role/{name}-*" for name in stack_names} | {f"arn:*:iam::*:role/{name_prefix}-*"})


def boundary_policy(name_prefix: str, stack_names: Iterable[str], pipeline_stack: str) -> dict:
    """The boundary's document for a project whose stacks are ``stack_names``, the delivery pipeline's
    ``pipeline_stack``."""
    stack_names = sorted(stack_names)
    not_cloudformation = {"ArnNotLike": {"aws:PrincipalArn": EXECUTION_ROLE}}
    bootstrap_roles = [f"arn:*:iam::*:role/cdk-{QUALIFIER}-{kind}-role-*" for kind in PIPELINE_ASSUMES]
    bounded = {"ArnNotLike": {"iam:PermissionsBoundary": boundary_arn_pattern(name_prefix)}}
    ours = our_roles(name_prefix, stack_names)
    statements = [
        {"Sid": "ServicesTheStacksUse", "Effect": "Allow", "Action": [f"{s}:*" for s in SERVICES], "Resource": "*"},
        {
            "Sid": "RolesOnlyWithThisBoundary",
            "Effect": "Deny",
            "Action": ["iam:CreateRole", "iam:PutRolePermissionsBoundary"],
            "Resource": "*",
            "Condition": bounded,
        },
        {
            "Sid": "NoChangeToRolesWithoutIt",
            "Effect": "Deny",
            "Action": list(ROLE_WRITES),
            "Resource": "*",
            "Condition": bounded,
        },
        {"Sid": "NoWayAround", "Effect": "Deny", "Action": list(NEVER), "Resource": "*"},
        {
            "Sid": "IamOnlyByCloudFormation",
            "Effect": "Deny",
            "Action": list(IAM_WRITES),
            "Resource": "*",
            "Condition": not_cloudformation,
        },
        {
            "Sid": "PipelinesOnlyByCloudFormation",
            "Effect": "Deny",
            "Action": list(PIPELINE_WRITES),
            "Resource": "*",
            "Condition": not_cloudformation,
        },
        {
            "Sid": "PassTagAndBoundOnlyOurRoles",
            "Effect": "Deny",
            "Action": ["iam:PassRole", "iam:TagRole", "iam:UntagRole", "iam:PutRolePermissionsBoundary"],
            "NotResource": ours,
        },
        {
            "Sid": "AssumeOnlyOurRolesAndTheBootstrapDeployRolesByName",
            "Effect": "Deny",
            "Action": "sts:AssumeRole",
            "NotResource": [*ours, *bootstrap_roles],
        },
        {
            "Sid": "BootstrapRolesOnlyForThePipeline",
            "Effect": "Deny",
            "Action": "sts:AssumeRole",
            "Resource": bootstrap_roles,
            "Condition": {"ArnNotLike": {"aws:PrincipalArn": f"arn:*:iam::*:role/{pipeline_stack}-*"}},
        },
        {
            "Sid": "NoWritesToTheBootstrapAssets",
            "Effect": "Deny",
            "Action": list(ASSET_WRITES),
            "Resource": [
                f"arn:*:s3:::cdk-{QUALIFIER}-assets-*",
                f"arn:*:ecr:*:*:repository/cdk-{QUALIFIER}-container-assets-*",
            ],
        },
        {
            "Sid": "AssumeOnlyOurRolesAndTheBootstrapDeployRoles",
            "Effect": "Deny",
            "Action": "sts:AssumeRole",
            "Resource": "*",
            # Both must fail to match: neither ours nor one of the bootstrap roles the pipeline deploys with.
            "Condition": {
                "StringNotEquals": {
                    f"iam:ResourceTag/{PROJECT_TAG}": name_prefix,
                    f"iam:ResourceTag/{BOOTSTRAP_ROLE_TAG}": list(PIPELINE_ASSUMES),
                }
            },
        },
        {
            "Sid": "OnlyOurFunctions",
            "Effect": "Deny",
            "Action": list(FUNCTION_WRITES),
            "NotResource": [f"arn:*:lambda:*:*:function:{name}-*" for name in stack_names],
        },
        {
            "Sid": "OnlyOurBuilds",
            "Effect": "Deny",
            "Action": list(BUILD_WRITES),
            "Resource": "*",
            "Condition": {"StringNotEquals": {f"aws:ResourceTag/{PROJECT_TAG}": name_prefix}},
        },
    ]
    return {"Version": "2012-10-17", "Statement": statements}
