"""`textclf monitor report`: the drift figures over the last days, each beside its alarm threshold, from moto's
CloudWatch; a stage without drift alarms is told why and what to do."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws
from test_charts import texts

from cli import monitor, pipeline_ops, status
from cli.main import main

NAMESPACE = "textclf-prod/Serving"
THRESHOLDS = {"ClassMixDrift": 0.03, "ConfidenceDrop": 0.05, "LengthDrift": 0.05}

pytest.importorskip("matplotlib")


def put_drift_alarms(cloudwatch, topic: str, namespace: str, stack: str) -> None:
    """The stage's three drift alarms, as the Serving construct defines them, notifying ``topic``."""
    for name, threshold in THRESHOLDS.items():
        cloudwatch.put_metric_alarm(
            AlarmName=f"{stack}-{name}",
            MetricName=name,
            Namespace=namespace,
            Statistic="Maximum",
            Period=3600,
            EvaluationPeriods=1,
            Threshold=threshold,
            ComparisonOperator="GreaterThanThreshold",
            AlarmActions=[topic],
        )


@pytest.fixture
def prod(monkeypatch):
    with mock_aws():
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
        topic = boto3.client("sns", region_name="us-east-1").create_topic(Name="alarms")["TopicArn"]
        put_drift_alarms(cloudwatch, topic, NAMESPACE, "Prod-Mlops")
        outputs = {"AlarmTopicArn": topic}
        monkeypatch.setattr(pipeline_ops, "stage_outputs", lambda config: outputs)
        yield cloudwatch, outputs


def test_each_figure_is_drawn_over_its_windows_beside_its_threshold_and_windows_above_it_are_marked(prod, tmp_path):
    cloudwatch, _ = prod
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    for hours_ago, value in ((3, 0.01), (2, 0.02), (1, 0.48)):
        cloudwatch.put_metric_data(
            Namespace=NAMESPACE,
            MetricData=[{"MetricName": "LengthDrift", "Value": value, "Timestamp": hour - timedelta(hours=hours_ago)}],
        )
    assert main(["monitor", "report", "--stage", "prod", "--days", "2", "--out", str(tmp_path)]) == 0
    png = (tmp_path / monitor.REPORT).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24])[0] > 600

    end = datetime.now(UTC)
    alarm = {"Namespace": NAMESPACE, "MetricName": "LengthDrift", "Period": 3600}
    points = status.drift_series(cloudwatch, alarm, end - timedelta(days=2), end)
    assert [v for _, v in points] == [0.01, 0.02, 0.48]
    figure = monitor.report_figure("prod", {"LengthDrift": (0.05, points), "ClassMixDrift": (0.03, [])}, 2)
    shown = texts(figure)
    assert "LengthDrift: token-length mix vs the test set (Jensen-Shannon, bits)" in shown
    assert (
        "ClassMixDrift: predicted-class mix vs the test set (Jensen-Shannon, bits) (no window held enough texts)"
        in (shown)
    )
    assert {"alarm above 0.05", "above the alarm", "alarm above 0.03"} <= set(shown)
    assert "window end (UTC)" in shown


def test_a_stage_without_drift_alarms_is_told_it_serves_no_release_with_a_baseline(prod, capsys, monkeypatch):
    monkeypatch.setattr(pipeline_ops, "stage_outputs", lambda config: {"AlarmTopicArn": "arn:aws:sns:us-east-1:1:x"})
    assert main(["monitor", "report", "--stage", "prod"]) != 0
    error = capsys.readouterr().err
    assert "stage prod has no drift alarms" in error and "Fix:" in error
