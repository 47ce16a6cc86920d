"""The project's Lambda functions: one runtime, a log group of their own (a year, under the operations key),
and the checkov checks a synchronous, VPC-less, rarely invoked function cannot pass. Scheduled ones (the probe, the
drift monitor, late labels) fail loudly: retried, their failed runs sent to the alarm topic, and alarmed on errors
and on runs that stop happening (issue 45, finding 4), since each guards an alarm that would otherwise go quiet."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.checkov import FUNCTION_REASONS, SCHEDULED_FUNCTION_REASONS, allow_function_defaults
from stacks.nag import acknowledge

RUNTIME = lambda_.Runtime.PYTHON_3_14


# EventBridge's retries of a scheduled run it cannot hand to Lambda; Lambda then retries a run that fails twice (its
# default for asynchronous invocations) before it sends the event to the dead-letter topic.
SCHEDULE_RETRIES = 2


def project_function(
    scope: Construct,
    *,
    role: iam.IRole,
    log_key: kms.IKey,
    handler: str,
    code: lambda_.Code,
    checkov_reasons: Mapping[str, str] = FUNCTION_REASONS,
    **props,
) -> lambda_.Function:
    """``Logs`` and ``Function`` under ``scope``; ``checkov_reasons`` are the checks it cannot pass, each with its
    reason; ``props`` are the rest of lambda_.Function's (timeout, memory)."""
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
    allow_function_defaults(function, checkov_reasons)
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


def scheduled_function(
    scope: Construct,
    *,
    role: iam.Role,
    log_key: kms.IKey,
    failures: sns.ITopic,
    every: Duration,
    event: dict,
    description: str,
    **props,
) -> lambda_.Function:
    """A project function run every ``every`` with ``event`` (the rule ``Schedule`` under ``scope``): retried, each
    run that still fails sent to ``failures`` (its dead-letter topic), which two alarms also notify: ``ErrorsAlarm``
    (a run failed) and ``MissedRunsAlarm`` (no run in two periods of at least 5 minutes: no data is a breach, since a
    schedule that stopped publishes nothing)."""
    function = project_function(
        scope,
        role=role,
        log_key=log_key,
        dead_letter_topic=failures,
        checkov_reasons=SCHEDULED_FUNCTION_REASONS,
        **props,
    )
    acknowledge(
        role,
        "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
        "Publishing a failed run to the alarm topic encrypts it under the operations key, which names no data; "
        "the grant is aws-cdk-lib's for an encrypted topic, on that one key.",
    )
    events.Rule(
        scope,
        "Schedule",
        description=description,
        schedule=events.Schedule.rate(every),
        targets=[
            targets.LambdaFunction(
                function,
                event=events.RuleTargetInput.from_object(event),
                retry_attempts=SCHEDULE_RETRIES,
                max_event_age=Duration.minutes(min(every.to_minutes(), 24 * 60)),
            )
        ],
    )
    # Lambda's metrics are per minute, and a rate(1 minute) schedule may skip one: count runs over 5 minutes at least.
    period = Duration.minutes(max(every.to_minutes(), 5))
    # Two periods without a run: CloudWatch allows it for any period (a day at most under an hour, seven above), and
    # a new function's first run lands inside the first two. One failed run is enough for the errors alarm.
    for construct_id, what, metric, comparison, missing, periods in (
        (
            "ErrorsAlarm",
            "A scheduled run failed after its retries; the failed event is on the alarm topic",
            function.metric_errors(period=period, statistic="Sum"),
            cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            cloudwatch.TreatMissingData.NOT_BREACHING,
            1,
        ),
        (
            "MissedRunsAlarm",
            f"No scheduled run in 2 x {period.to_human_string()}: the alarms it feeds go quiet",
            function.metric_invocations(period=period, statistic="Sum"),
            cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            cloudwatch.TreatMissingData.BREACHING,
            2,
        ),
    ):
        alarm = cloudwatch.Alarm(
            scope,
            construct_id,
            alarm_description=f"{description}: {what}",
            metric=metric,
            threshold=1,
            evaluation_periods=periods,
            comparison_operator=comparison,
            treat_missing_data=missing,
        )
        alarm.add_alarm_action(actions.SnsAction(failures))
        alarm.add_ok_action(actions.SnsAction(failures))
    return function
