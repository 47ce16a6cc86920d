"""`textclf status --stage S`: one screen with the stage's latest pipeline executions and their steps, its model
packages with accuracy, and its endpoint with the package it serves, its alarms and its latest drift figures.

Read-only: it calls List/Describe APIs only, so an operator's read-only role is enough.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cli import pipeline_ops
from cli.errors import one_stage, positive_int
from delivery_steps import smoke
from stacks.config import StageConfig
from stacks.monitor_settings import DRIFT

# A failure reason can be a whole stack trace; the screen keeps its first line, this long.
REASON_CHARS = 160


@dataclass(frozen=True)
class Clients:
    sagemaker: Any
    s3: Any
    cloudwatch: Any


def clients(config: StageConfig) -> Clients:
    import boto3

    session = boto3.Session(region_name=config.region)
    return Clients(session.client("sagemaker"), session.client("s3"), session.client("cloudwatch"))


def run(args: argparse.Namespace) -> int:
    config = pipeline_ops.stage_config(args.stage)
    outputs = pipeline_ops.stage_outputs(config)
    print(screen(config, outputs, clients(config), executions=args.executions, packages=args.packages))
    return 0


def screen(config: StageConfig, outputs: dict[str, str], aws: Clients, *, executions: int, packages: int) -> str:
    now = datetime.now(UTC)
    parts = [f"textclf status: stage {config.name} ({config.region})", ""]
    for pipeline in (config.pipeline_name, config.distillation_pipeline_name):
        parts += pipeline_section(aws.sagemaker, pipeline, executions, now)
    parts += [f"## Model packages in {config.model_package_group_name} (newest {packages})", ""]
    parts += [pipeline_ops.package_table(aws.sagemaker, aws.s3, config.model_package_group_name, limit=packages), ""]
    parts += endpoint_section(aws, outputs, now)
    return "\n".join(parts).rstrip() + "\n"


# ---- pipeline executions ------------------------------------------------------------------------------
def pipeline_section(sagemaker, pipeline: str, limit: int, now: datetime) -> list[str]:
    summaries = sagemaker.list_pipeline_executions(
        PipelineName=pipeline, SortBy="CreationTime", SortOrder="Descending", MaxResults=limit
    )["PipelineExecutionSummaries"]
    # Sorted here too: the screen must not depend on how an implementation orders equal pages.
    summaries = sorted(summaries, key=lambda summary: summary["StartTime"], reverse=True)[:limit]
    lines = [f"## Pipeline {pipeline}: latest {limit} executions", ""]
    if not summaries:
        return [*lines, "no executions yet (`textclf data upload` or `textclf pipeline start` starts one)", ""]
    for summary in summaries:
        arn = summary["PipelineExecutionArn"]
        described = sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)
        status = described["PipelineExecutionStatus"]
        started = described["CreationTime"]
        ended = now if status in ("Executing", "Stopping") else described["LastModifiedTime"]
        lines.append(
            f"- {arn.rsplit('/', 1)[-1]}  {status}  started {_when(started)}  took {duration(started, ended)}"
            + _reason(described.get("FailureReason"))
        )
        lines += [f"    {line}" for line in step_lines(sagemaker, arn, now)]
    return [*lines, ""]


def step_lines(sagemaker, execution_arn: str, now: datetime) -> list[str]:
    """One line per step, in the order they started: name, status, duration, attempts, failure."""
    steps, token = [], None
    while True:
        page = sagemaker.list_pipeline_execution_steps(
            PipelineExecutionArn=execution_arn, SortOrder="Ascending", **({"NextToken": token} if token else {})
        )
        steps += page["PipelineExecutionSteps"]
        token = page.get("NextToken")
        if not token:
            break
    width = max((len(step["StepName"]) for step in steps), default=0)
    lines = []
    for step in steps:
        started = step.get("StartTime")
        took = duration(started, step.get("EndTime") or now) if started else "-"
        attempts = step.get("AttemptCount", 1)
        lines.append(
            f"{step['StepName']:<{width}}  {step['StepStatus']:<9}  {took:>8}"
            + (f"  ({attempts} attempts)" if attempts > 1 else "")
            + (" (cached)" if step.get("CacheHitResult") else "")
            + _reason(step.get("FailureReason"))
        )
    return lines or ["no steps started yet"]


# ---- the endpoint ---------------------------------------------------------------------------------------
def endpoint_section(aws: Clients, outputs: dict[str, str], now: datetime) -> list[str]:
    name = outputs.get("EndpointName")
    if name is None:
        return ["## Endpoint", "", "this stage serves nothing yet (set model_package_arn, or promote a package)"]
    endpoint = aws.sagemaker.describe_endpoint(EndpointName=name)
    lines = [
        f"## Endpoint {name}",
        "",
        f"{endpoint['EndpointStatus']} since {_when(endpoint['LastModifiedTime'])}"
        + _reason(endpoint.get("FailureReason")),
        f"serving: {served_package(aws.sagemaker, endpoint['EndpointConfigName'])}",
        f"last update: {update_outcome(endpoint, outputs.get('EndpointConfigName'), aws.cloudwatch)}",
        "",
    ]
    alarms = stage_alarms(aws.cloudwatch, outputs.get("AlarmTopicArn"))
    return lines + alarm_lines(alarms, now) + drift_lines(aws.cloudwatch, alarms, now)


def update_outcome(endpoint: dict, deployed: str | None, cloudwatch) -> str:
    """Whether the endpoint serves what the stack last deployed; a rolled-back update says which alarm fired."""
    kind = smoke.traffic_routing(endpoint.get("LastDeploymentConfig")).lower()
    if endpoint["EndpointStatus"] in ("Updating", "SystemUpdating", "RollingBack"):
        return f"in progress ({kind}): {endpoint['EndpointStatus']}"
    if deployed in (None, "none"):
        return "unknown (the stack names no endpoint config)"
    problems = smoke.served_config_problems(endpoint, deployed, smoke.cloudwatch_history(cloudwatch))
    return f"ROLLED BACK: {problems[0]}" if problems else f"completed ({kind}): serves {deployed}"


def served_package(sagemaker, endpoint_config: str) -> str:
    variant = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint_config)["ProductionVariants"][0]
    model = sagemaker.describe_model(ModelName=variant["ModelName"])
    container = model.get("PrimaryContainer") or model["Containers"][0]
    return container.get("ModelPackageName") or container.get("ModelDataUrl", "?")


def stage_alarms(cloudwatch, topic_arn: str | None) -> list[dict]:
    """The endpoint's alarms (those notifying the stage's alarm topic), firing ones first, then by last change."""
    if topic_arn is None:
        return []
    alarms = []
    for page in cloudwatch.get_paginator("describe_alarms").paginate(ActionPrefix=topic_arn):
        # ActionPrefix matches by prefix; another topic's ARN may extend this one.
        alarms += [a for a in page["MetricAlarms"] if topic_arn in a.get("AlarmActions", [])]
    return sorted(alarms, key=lambda a: (a["StateValue"] != "ALARM", -a["StateUpdatedTimestamp"].timestamp()))


def alarm_lines(alarms: list[dict], now: datetime) -> list[str]:
    if not alarms:
        return []
    firing = sum(a["StateValue"] == "ALARM" for a in alarms)
    lines = [f"alarms: {firing} of {len(alarms)} firing", ""]
    lines += ["| alarm | state | since | reason |", "|---|---|---|---|"]
    for alarm in alarms:
        since = f"{_when(alarm['StateUpdatedTimestamp'])} ({duration(alarm['StateUpdatedTimestamp'], now)} ago)"
        reason = _first_line(alarm.get("StateReason", ""))
        lines.append(f"| {alarm['AlarmName']} | {alarm['StateValue']} | {since} | {reason} |")
    return lines


def drift_alarms(alarms: list[dict]) -> list[dict]:
    """The drift monitor's alarms among ``alarms``, by figure name."""
    return sorted((a for a in alarms if a.get("MetricName") in DRIFT.values()), key=lambda a: a["MetricName"])


def drift_series(cloudwatch, alarm: dict, start: datetime, end: datetime) -> list[tuple[datetime, float]]:
    """The alarm's figure for each window in [start, end], oldest first."""
    metric = {"Namespace": alarm["Namespace"], "MetricName": alarm["MetricName"]}
    query = {"Id": "drift", "MetricStat": {"Metric": metric, "Period": alarm["Period"], "Stat": "Maximum"}}
    points: list[tuple[datetime, float]] = []
    pages = cloudwatch.get_paginator("get_metric_data").paginate(
        MetricDataQueries=[query], StartTime=start, EndTime=end, ScanBy="TimestampAscending"
    )
    for page in pages:
        for result in page["MetricDataResults"]:
            points += zip(result["Timestamps"], result["Values"], strict=True)
    return sorted(points)


def drift_lines(cloudwatch, alarms: list[dict], now: datetime) -> list[str]:
    """The drift monitor's latest figure of each kind beside the threshold its alarm fires above (docs/monitoring.md);
    nothing where the stage has no drift alarms (it serves no package with a baseline)."""
    drift = drift_alarms(alarms)
    if not drift:
        return []
    lines = ["", "drift from the served model's test set, latest window of the last day:", ""]
    lines += ["| figure | latest | alarm above | window ended |", "|---|---:|---:|---|"]
    for alarm in drift:
        points = drift_series(cloudwatch, alarm, now - timedelta(days=1), now)
        latest, ended = (
            (f"{points[-1][1]:.3f}", _when(points[-1][0])) if points else ("none", "no window held enough texts")
        )
        lines.append(f"| {alarm['MetricName']} | {latest} | {alarm['Threshold']:g} | {ended} |")
    return lines


# ---- formatting -------------------------------------------------------------------------------------------
def duration(start: datetime, end: datetime) -> str:
    seconds = max(0, int((end - start).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _first_line(text: str) -> str:
    lines = (text or "").strip().splitlines()
    line = lines[0] if lines else ""
    return line if len(line) <= REASON_CHARS else line[: REASON_CHARS - 1] + "…"


def _reason(text: str | None) -> str:
    # moto and some SageMaker responses carry an empty or "None" reason for a run that did not fail.
    line = _first_line(text or "")
    return f"  — {line}" if line and line != "None" else ""


def add_parser(commands) -> None:
    status = commands.add_parser(
        "status",
        help="one screen: latest pipeline executions with steps and durations, model packages, endpoint and alarms",
        description=(__doc__ or "").strip(),
    )
    status.add_argument("--stage", type=one_stage, default="dev", help="dev (default), staging or prod")
    status.add_argument(
        "--executions",
        type=positive_int,
        default=3,
        help="how many latest executions to show per pipeline (default: 3)",
    )
    status.add_argument(
        "--packages", type=positive_int, default=5, help="how many newest model packages to show (default: 5)"
    )
    status.set_defaults(handler=run)
