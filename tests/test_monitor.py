"""The drift monitor: signal metrics from the endpoint's log in every stage, and where the served package has a
baseline, the drift function on its schedule and an alarm per figure; the function run against CloudWatch (moto)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from aws_cdk import App, Environment, RemovalPolicy, Stack
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template
from moto import mock_aws
from test_realtime import MONITOR

from stacks.functions.drift_monitor import index
from stacks.monitor import DriftMonitor
from stacks.monitor_settings import DRIFT, SIGNALS, MonitorBaseline
from stacks.operations_key import OperationsKey
from training import contract

BASELINE = MonitorBaseline(class_mix=(0.5, 0.5), length=(0.3, 0.6, 0.1, 0, 0, 0, 0, 0), mean_score=0.9)
NAMESPACE = "textclf-prod/Serving"


def monitor(baseline: MonitorBaseline | None = BASELINE) -> Template:
    stack = Stack(App(), "Bare", env=Environment(region="us-east-1"))
    DriftMonitor(
        stack,
        "Monitor",
        log_group=logs.LogGroup(stack, "EndpointLogs"),
        namespace=NAMESPACE,
        settings=MONITOR,
        baseline=baseline,
        log_key=OperationsKey(stack, "OperationsKey", removal=RemovalPolicy.DESTROY).key,
        failures=sns.Topic(stack, "Failures"),
    )
    return Template.from_stack(stack)


def test_every_served_model_counts_classes_scores_and_lengths_from_its_log_lines_without_a_default():
    template = monitor(baseline=None)
    filters = template.find_resources("AWS::Logs::MetricFilter")
    found = {
        f["Properties"]["MetricTransformations"][0]["MetricName"]: f["Properties"]["MetricTransformations"][0]
        for f in filters.values()
    }
    assert set(found) == set(SIGNALS.values())
    assert {f["Properties"]["FilterPattern"] for f in filters.values()} == {contract.signal_filter_pattern()}
    assert found["Predictions"]["Dimensions"] == [{"Key": "Class", "Value": "$predicted"}]
    assert found["TextsByLength"]["Dimensions"] == [{"Key": "Bucket", "Value": "$length"}]
    assert found["TopScore"]["MetricValue"] == "$score"
    # CloudWatch Logs refuses a default value on a filter with dimensions; none is set on any.
    assert all("DefaultValue" not in transformation for transformation in found.values())
    # Without a baseline there is nothing to compare with: no function, no schedule.
    template.resource_count_is("AWS::Lambda::Function", 0)
    template.resource_count_is("AWS::Events::Rule", 0)


def test_with_a_baseline_a_schedule_hands_the_function_its_window_baseline_and_the_time_it_fired():
    template = monitor()
    (rule,) = template.find_resources("AWS::Events::Rule").values()
    assert rule["Properties"]["ScheduleExpression"] == "rate(1 hour)"  # MONITOR.window_minutes, as CDK writes it
    (target,) = rule["Properties"]["Targets"]
    transformer = target["InputTransformer"]
    assert transformer["InputPathsMap"] == {"time": "$.time"}
    fired = json.loads(transformer["InputTemplate"].replace("<time>", '"2026-12-06T10:00:00Z"'))
    assert fired["Time"] == "2026-12-06T10:00:00Z"
    assert fired["Baseline"] == {"class_mix": [0.5, 0.5], "length": list(BASELINE.length), "mean_score": 0.9}
    assert fired["Signals"] == SIGNALS and fired["Drift"] == DRIFT and fired["Namespace"] == NAMESPACE
    assert fired["MinRequests"] == MONITOR.min_requests and fired["WindowMinutes"] == MONITOR.window_minutes
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": "cloudwatch:PutMetricData",
                                "Resource": "*",
                                "Condition": {"StringEquals": {"cloudwatch:namespace": NAMESPACE}},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_the_serving_construct_alarms_on_each_drift_figure_over_one_window_and_notifies_the_topic():
    from test_serving import serve

    _, template = serve(baseline=BASELINE)
    alarms = {
        a["Properties"]["MetricName"]: a["Properties"]
        for a in template.find_resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") in DRIFT.values()
    }
    thresholds = {
        DRIFT["class_mix"]: MONITOR.class_mix_max,
        DRIFT["confidence_drop"]: MONITOR.confidence_drop_max,
        DRIFT["length"]: MONITOR.length_max,
    }
    assert {name: a["Threshold"] for name, a in alarms.items()} == thresholds
    for alarm in alarms.values():
        assert alarm["Period"] == MONITOR.window_minutes * 60 and alarm["EvaluationPeriods"] == 1
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold" and alarm["TreatMissingData"] == "notBreaching"
        assert alarm["AlarmActions"] and alarm["OKActions"]
    # Drift is no fault of an update: the endpoint never rolls back on it.
    (endpoint,) = template.find_resources("AWS::SageMaker::Endpoint").values()
    rollback = json.dumps(endpoint["Properties"].get("DeploymentConfig", {}))
    assert not any(name in rollback for name in DRIFT.values())
    _, without = serve()
    assert not [a for a in without.find_resources("AWS::CloudWatch::Alarm").values() if "Drift" in json.dumps(a)]


@pytest.mark.parametrize(
    ("p", "q", "expected"),
    [([0.5, 0.5], [0.5, 0.5], 0.0), ([1.0, 0.0], [0.0, 1.0], 1.0), ([0.5, 0.5], [70, 30], 0.0303)],
)
def test_js_divergence_is_zero_for_equal_shares_one_for_disjoint_ones_and_reads_counts(p, q, expected):
    assert index.js_divergence(p, q) == pytest.approx(expected, abs=1e-4)
    assert index.js_divergence(q, p) == pytest.approx(expected, abs=1e-4)


def event(fired_at: datetime) -> dict:
    return {
        "Time": fired_at.isoformat().replace("+00:00", "Z"),
        "Namespace": NAMESPACE,
        "WindowMinutes": 60,
        "MinRequests": 100,
        "Signals": SIGNALS,
        "Drift": DRIFT,
        "Baseline": {"class_mix": [0.5, 0.5], "length": list(BASELINE.length), "mean_score": 0.9},
    }


def publish(cloudwatch, when: datetime, classes: list[int], lengths: list[int], mean_score: float) -> None:
    def put(name: str, value: float, dimension: tuple[str, str] | None = None) -> None:
        dimensions = [{"Name": dimension[0], "Value": dimension[1]}] if dimension else []
        statistics = {"SampleCount": max(value, 1), "Sum": value, "Minimum": 0, "Maximum": value}
        cloudwatch.put_metric_data(
            Namespace=NAMESPACE,
            MetricData=[
                {"MetricName": name, "Dimensions": dimensions, "Timestamp": when, "StatisticValues": statistics}
            ],
        )

    for i, count in enumerate(classes):
        put(SIGNALS["predictions"], count, ("Class", str(i)))
    for b, count in enumerate(lengths):
        put(SIGNALS["length"], count, ("Bucket", str(b)))
    put(SIGNALS["score"], mean_score * sum(classes))


@mock_aws
def test_the_function_sums_its_window_and_publishes_drift_only_from_enough_texts(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    fired_at = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    # In the window: 150 texts, mostly long and of class 1, answered less surely. Before it: what must not count.
    publish(cloudwatch, fired_at - timedelta(minutes=20), [30, 120], [0, 0, 60, 90, 0, 0, 0, 0], 0.7)
    publish(cloudwatch, fired_at - timedelta(minutes=90), [1000, 0], [1000, 0, 0, 0, 0, 0, 0, 0], 0.1)
    answer = index.handler(event(fired_at), None)
    assert answer["requests"] == 150
    figures = answer["figures"]
    assert figures["class_mix"] == pytest.approx(index.js_divergence([0.5, 0.5], [30, 120]))
    assert figures["confidence_drop"] == pytest.approx(0.2)
    assert figures["length"] == pytest.approx(index.js_divergence(list(BASELINE.length), [0, 0, 60, 90, 0, 0, 0, 0]))
    published = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": f"m{i}",
                "MetricStat": {"Metric": {"Namespace": NAMESPACE, "MetricName": name}, "Period": 60, "Stat": "Maximum"},
            }
            for i, name in enumerate(DRIFT.values())
        ],
        StartTime=fired_at - timedelta(minutes=1),
        EndTime=fired_at + timedelta(minutes=1),
    )["MetricDataResults"]
    assert [r["Values"] for r in published] == [[pytest.approx(figures[key])] for key in DRIFT]
    # An hour later the window holds 0 texts, under MinRequests: nothing is published, so no alarm can fire on noise.
    assert index.handler(event(fired_at + timedelta(hours=1)), None) == {"requests": 0, "figures": None}
