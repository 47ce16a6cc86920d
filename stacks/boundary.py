"""The permissions boundary of every role our templates create, and of CloudFormation's execution role.

It is ours, versioned with the app: `textclf bootstrap-policy` writes it, it is created once per account as the
managed policy ``<prefix>-permissions-boundary``, and `cdk bootstrap --custom-permissions-boundary` puts it on the
execution role. aws-cdk's example boundary (``--example-permissions-boundary``) only refused unbounded roles and
edits to itself, so a bounded role with ``*:*`` could still attach AdministratorAccess to the unbounded deploy role,
rewrite OrganizationAccountAccessRole, add a version to a policy, or create an access key (issue 45, finding 1).

This one allows only the services the stacks use, and refuses every way out of it:
- a role is created, or given a boundary, only with this boundary; a role without it gets no policy, trust or
  deletion;
- the boundary is never removed; no policy gets a new version; no user, group or credential is made;
- only our roles (by the names our stacks give them) are passed to a service or tagged;
- only our roles (tagged ``project``) and the bootstrap's deploy and publishing roles are assumed;
- functions, build projects and stacks that are not ours are not changed or run, and no notebook is opened:
  each runs as a role of its own, which may not be bounded.
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
# The bootstrap roles the delivery pipeline assumes, by the tag the bootstrap template gives them.
BOOTSTRAP_ROLE_TAG = "aws-cdk:bootstrap-role"
PIPELINE_ASSUMES = ("deploy", "file-publishing", "image-publishing", "lookup")
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
# Never: removing a boundary, a new default policy version (what a policy allows), users, groups and credentials.
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
    "sagemaker:*NotebookInstance*",
    "sagemaker:CreatePresigned*",
)
# Code that runs as its own role: changed or run only where it is ours.
FUNCTION_WRITES = ("lambda:Update*", "lambda:AddPermission", "lambda:Invoke*", "lambda:Publish*", "lambda:Put*")
BUILD_WRITES = ("codebuild:StartBuild*", "codebuild:RetryBuild*", "codebuild:UpdateProject", "codebuild:DeleteProject")


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


def boundary_policy(name_prefix: str, stack_names: Iterable[str]) -> dict:
    """The boundary's document for a project whose stacks are ``stack_names``."""
    stack_names = sorted(stack_names)
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
            "Sid": "PassAndTagOnlyOurRoles",
            "Effect": "Deny",
            "Action": ["iam:PassRole", "iam:TagRole", "iam:UntagRole"],
            "NotResource": ours,
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
