"""`textclf status`: one screen of a deployed stage, read from moto's SageMaker, S3 and CloudWatch.

moto implements every call the screen makes but ListPipelineExecutionSteps; the fixture answers that one on the
command's own client with SageMaker's documented response, checked against botocore's output shape first.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from botocore.awsrequest import AWSResponse
from botocore.validate import ParamValidator
from test_monitor_report import put_drift_alarms

from cli import pipeline_ops, status
from cli.main import main

ROLE = "arn:aws:iam::123456789012:role/p"
START = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


class Steps:
    """ListPipelineExecutionSteps answers by execution ARN, as SageMaker would give them."""

    def __init__(self) -> None:
        self.by_execution: dict[str, list[dict]] = {}

    def answer(self, params, model, **_):
        arn = json.loads(params["body"])["PipelineExecutionArn"]
        response = {"PipelineExecutionSteps": self.by_execution.get(arn, [])}
        report = ParamValidator().validate(response, model.output_shape)
        assert not report.has_errors(), report.generate_report()
        return AWSResponse(None, 200, {}, None), response


@pytest.fixture
def stage(mocked_registry, monkeypatch):
    """The dev stage's two pipelines, a serving endpoint with two alarms, and its stack outputs."""
    sagemaker = mocked_registry.sagemaker
    for name in ("textclf-dev-training", "textclf-dev-distillation"):
        sagemaker.create_pipeline(
            PipelineName=name, RoleArn=ROLE, PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []})
        )
    package = mocked_registry.register(0.91, status="Approved")
    sagemaker.create_model(ModelName="m", ExecutionRoleArn=ROLE, PrimaryContainer={"ModelPackageName": package})
    sagemaker.create_endpoint_config(
        EndpointConfigName="c",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "m",
                "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5},
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName="textclf-dev", EndpointConfigName="c")
    import boto3

    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    topic = boto3.client("sns", region_name="us-east-1").create_topic(Name="alarms")["TopicArn"]
    # Another topic whose ARN this one prefixes notifies Prod-Mlops-Latency: not this endpoint's alarm.
    for name, action in (
        ("Dev-Mlops-Latency", topic),
        ("Dev-Mlops-Errors5xx", topic),
        ("Prod-Mlops-Latency", f"{topic}-prod"),
    ):
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            MetricName="ModelLatency",
            Namespace="AWS/SageMaker",
            Statistic="Maximum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1.0,
            ComparisonOperator="GreaterThanThreshold",
            AlarmActions=[action],
        )
    cloudwatch.set_alarm_state(AlarmName="Dev-Mlops-Errors5xx", StateValue="ALARM", StateReason="5xx above 3\nmore")
    outputs = {"EndpointName": "textclf-dev", "AlarmTopicArn": topic, "EndpointConfigName": "c"}
    monkeypatch.setattr(pipeline_ops, "stage_outputs", lambda config: {"Dev": outputs}[config.construct_id])
    steps = Steps()
    real_clients = status.clients

    def with_steps(config):
        aws = real_clients(config)
        aws.sagemaker.meta.events.register("before-call.sagemaker.ListPipelineExecutionSteps", steps.answer)
        return aws

    monkeypatch.setattr(status, "clients", with_steps)
    return sagemaker, steps


def _step(name: str, status_: str, minutes: float, **extra) -> dict:
    start = START + timedelta(minutes=len(name))
    return {
        "StepName": name,
        "StepStatus": status_,
        "StartTime": start,
        "EndTime": start + timedelta(minutes=minutes),
        **extra,
    }


def test_status_shows_executions_with_steps_packages_endpoint_and_alarms(stage, capsys):
    sagemaker, steps = stage
    older = sagemaker.start_pipeline_execution(PipelineName="textclf-dev-training")["PipelineExecutionArn"]
    time.sleep(0.01)  # start times travel in milliseconds; two starts in one would tie
    newer = sagemaker.start_pipeline_execution(PipelineName="textclf-dev-training")["PipelineExecutionArn"]
    steps.by_execution[newer] = [
        _step("Train", "Succeeded", 12.5, AttemptCount=2),
        _step("Evaluate", "Failed", 1, FailureReason="ClientError: accuracy 0.41 below 0.8\nTraceback ..."),
    ]
    assert main(["status", "--stage", "dev", "--executions", "2"]) == 0
    out = capsys.readouterr().out

    training = out.split("## Pipeline textclf-dev-training")[1].split("## Pipeline")[0]
    executions = [line for line in training.splitlines() if line.startswith("- ")]
    assert [line.split()[1] for line in executions] == [newer.rsplit("/", 1)[-1], older.rsplit("/", 1)[-1]]
    assert "Train     Succeeded   12m 30s  (2 attempts)" in training
    assert "Evaluate  Failed       1m 00s  — ClientError: accuracy 0.41 below 0.8" in training
    assert "Traceback" not in training
    assert "no steps started yet" in training  # the older execution, which has none recorded
    assert "no executions yet" in out.split("## Pipeline textclf-dev-distillation")[1]

    packages = out.split("## Model packages in textclf-dev")[1]
    assert "| 1 | Approved | 0.9100 | 0.9000 |" in packages

    endpoint = out.split("## Endpoint textclf-dev")[1]
    assert "InService since" in endpoint
    assert "serving: arn:aws:sagemaker:us-east-1:123456789012:model-package/textclf-dev/1" in endpoint
    assert "last update: completed (all_at_once): serves c" in endpoint
    assert "alarms: 1 of 2 firing" in endpoint
    alarm_rows = [line.split(" | ")[:2] for line in endpoint.splitlines() if line.startswith("| Dev-")]
    assert [row[0] for row in alarm_rows] == ["| Dev-Mlops-Errors5xx", "| Dev-Mlops-Latency"]
    assert alarm_rows[0][1] == "ALARM" and alarm_rows[1][1] != "ALARM"
    assert "5xx above 3 |" in endpoint and "Prod-Mlops" not in out


def test_an_update_sagemaker_rolled_back_is_shown_naming_both_configs(stage, monkeypatch, capsys):
    outputs = {"EndpointName": "textclf-dev", "EndpointConfigName": "c-deployed-by-the-stack"}
    monkeypatch.setattr(pipeline_ops, "stage_outputs", lambda config: {"Dev": outputs}[config.construct_id])
    assert main(["status", "--stage", "dev"]) == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("last update:")]
    assert line.startswith("last update: ROLLED BACK: endpoint textclf-dev serves endpoint config c, not ")
    assert "c-deployed-by-the-stack" in line and "The old model still serves" in line


def test_the_drift_monitors_latest_figures_are_shown_beside_the_threshold_each_alarm_fires_above(stage, capsys):
    import boto3

    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    topic = boto3.client("sns", region_name="us-east-1").create_topic(Name="alarms")["TopicArn"]  # the stage's
    namespace = "textclf-dev/Serving"
    put_drift_alarms(cloudwatch, topic, namespace, "Dev-Mlops")
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    for minutes_ago, value in ((120, 0.2), (60, 0.48)):  # the later window is the one shown
        cloudwatch.put_metric_data(
            Namespace=namespace,
            MetricData=[
                {"MetricName": "LengthDrift", "Value": value, "Timestamp": now - timedelta(minutes=minutes_ago)}
            ],
        )
    assert main(["status", "--stage", "dev"]) == 0
    drift = capsys.readouterr().out.split("drift from the served model's test set")[1]
    rows = [line.split(" | ") for line in drift.splitlines() if line.startswith("| ") and "figure" not in line]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("| ClassMixDrift", "none", "0.03"),
        ("| ConfidenceDrop", "none", "0.05"),
        ("| LengthDrift", "0.480", "0.05"),
    ]
    assert "no window held enough texts" in rows[0][3]


def test_a_stage_that_serves_nothing_says_so(stage, monkeypatch, capsys):
    monkeypatch.setattr(pipeline_ops, "stage_outputs", lambda config: {})
    assert main(["status", "--stage", "dev"]) == 0
    assert "this stage serves nothing yet" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("seconds", "shown"), [(0, "0s"), (59, "59s"), (61, "1m 01s"), (3600 * 2 + 60 * 5 + 9, "2h 05m")]
)
def test_durations_read_at_a_glance(seconds, shown):
    assert status.duration(START, START + timedelta(seconds=seconds)) == shown
