"""stacks.function: a scheduled function fails loudly (issue 45, finding 4). The probe, the drift monitor and the
late-label function each guard an alarm; a run that fails, or runs that stop, must not leave that alarm quiet."""

from __future__ import annotations

import pytest
from aws_cdk import App, Duration, Environment, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template

from stacks.checkov import FUNCTION_REASONS, SCHEDULED_FUNCTION_REASONS
from stacks.function import SCHEDULE_RETRIES, scheduled_function
from stacks.operations_key import OperationsKey


def scheduled(every: Duration) -> tuple[Stack, Template]:
    stack = Stack(App(), "Bare", env=Environment(region="us-east-1"))
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    scheduled_function(
        stack,
        role=role,
        log_key=OperationsKey(stack, "OperationsKey", removal=RemovalPolicy.DESTROY).key,
        failures=sns.Topic(stack, "Failures"),
        every=every,
        event={"Probe": 1},
        description="Probes the endpoint",
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context): pass"),
    )
    return stack, Template.from_stack(stack)


def failures_ref(template: Template) -> dict:
    (topic,) = template.find_resources("AWS::SNS::Topic")
    return {"Ref": topic}


@pytest.mark.parametrize(
    "every, age, period, periods",
    [(Duration.minutes(1), 60, 300, 2), (Duration.hours(1), 3600, 3600, 2), (Duration.days(1), 86400, 86400, 2)],
    ids=["every-minute", "hourly", "daily"],
)
def test_a_run_is_retried_then_sent_to_the_alarm_topic_and_errors_or_missed_runs_alarm(every, age, period, periods):
    _, template = scheduled(every)
    (rule,) = template.find_resources("AWS::Events::Rule").values()
    (target,) = rule["Properties"]["Targets"]
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": SCHEDULE_RETRIES, "MaximumEventAgeInSeconds": age}
    (function,) = [f for f in template.find_resources("AWS::Lambda::Function").values()]
    assert function["Properties"]["DeadLetterConfig"] == {"TargetArn": failures_ref(template)}
    alarms = {
        a["Properties"]["MetricName"]: a["Properties"]
        for a in template.find_resources("AWS::CloudWatch::Alarm").values()
    }
    errors, runs = alarms["Errors"], alarms["Invocations"]
    assert (errors["ComparisonOperator"], errors["Threshold"], errors["TreatMissingData"]) == (
        "GreaterThanOrEqualToThreshold",
        1,
        "notBreaching",
    )
    # A schedule that stopped publishes no Invocations at all: missing data is the breach.
    assert (runs["ComparisonOperator"], runs["Threshold"], runs["TreatMissingData"]) == (
        "LessThanThreshold",
        1,
        "breaching",
    )
    assert (runs["Period"], runs["EvaluationPeriods"]) == (period, periods)
    # One failed run is enough (an alarm of two periods without DatapointsToAlarm would need two in a row).
    assert (errors["Period"], errors["EvaluationPeriods"]) == (period, 1)
    # CloudWatch's limit on an alarm's range: a day for periods under an hour, seven days otherwise.
    assert runs["Period"] * runs["EvaluationPeriods"] <= (86400 if runs["Period"] < 3600 else 7 * 86400)
    for alarm in (errors, runs):
        assert alarm["AlarmActions"] == alarm["OKActions"] == [failures_ref(template)]


def test_its_checkov_allowances_are_its_own_and_the_dead_letter_check_is_not_one_of_them():
    """The scheduled functions carried the Baseline function's reasons ("once per pipeline run ... failure fails the
    pipeline step"), which are false for them; with a dead-letter topic CKV_AWS_116 passes and is not allowed."""
    _, template = scheduled(Duration.minutes(1))
    (function,) = template.find_resources("AWS::Lambda::Function").values()
    skipped = {skip["id"]: skip["comment"] for skip in function["Metadata"]["checkov"]["skip"]}
    assert skipped == SCHEDULED_FUNCTION_REASONS and "CKV_AWS_116" not in skipped
    assert not set(skipped.values()) & set(FUNCTION_REASONS.values())
