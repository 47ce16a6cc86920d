"""The project's Lambda functions: one runtime, a log group of their own (a year, under the operations key),
and the checkov checks a synchronous, VPC-less, rarely invoked function cannot pass."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.checkov import allow_function_defaults

RUNTIME = lambda_.Runtime.PYTHON_3_14


def project_function(
    scope: Construct, *, role: iam.IRole, log_key: kms.IKey, handler: str, code: lambda_.Code, **props
) -> lambda_.Function:
    """``Logs`` and ``Function`` under ``scope``; ``props`` are the rest of lambda_.Function's (timeout, memory)."""
    log_group = logs.LogGroup(
        scope,
        "Logs",
        retention=logs.RetentionDays.ONE_YEAR,
        removal_policy=RemovalPolicy.DESTROY,
        encryption_key=log_key,
    )
    log_group.grant_write(role)
    function = lambda_.Function(
        scope, "Function", runtime=RUNTIME, handler=handler, code=code, role=role, log_group=log_group, **props
    )
    allow_function_defaults(function)
    return function


def grant_put_metric_data(role: iam.Role, namespace: str) -> None:
    """PutMetricData into ``namespace`` only: the action is granted on "*" (no resource a metric goes to has a type
    in IAM), and the cloudwatch:namespace condition keeps the role to this one namespace."""
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": namespace}},
        )
    )
