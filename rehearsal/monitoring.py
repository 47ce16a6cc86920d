"""A stage's monitor as deployed, fed by the served model. Drift: streams of texts through the local endpoint, its log
lines through the deployed metric filters into CloudWatch (moto), the deployed drift function run as its role on
what its schedule sends it, and the deployed drift alarms' verdict on what the function published.

Late labels (a realtime stage that captures data): answers captured as SageMaker captures them, labels uploaded as
`textclf feedback upload` uploads them, the deployed late-label function and its alarms.

Each drift stream gets a window of its own: its metrics are published in the hour before the schedule fires for it, and
the windows of two streams are two hours apart.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from delivery_steps.smoke import http_sender
from rehearsal.cloud import Cloud
from rehearsal.cloudformation.custom_resources import FunctionError, call
from rehearsal.cloudformation.model import Resource, Stack
from rehearsal.cloudwatch import Metrics, in_alarm
from rehearsal.deployed import served_model
from rehearsal.eventbridge import scheduled_event, target_input
from rehearsal.logs import Sample, is_delimited, metric_samples
from rehearsal.report import RehearsalFailed
from rehearsal.sagemaker.capture import CapturingEndpoint
from rehearsal.sagemaker.channels import split_uri
from rehearsal.sagemaker.local_endpoint import LocalEndpoint
from rehearsal.session import Session
from stacks.monitor_settings import DRIFT, LABELLED, feedback_body
from stacks.project import ROOT
from training import contract

STREAMS_DIR = ROOT / "data" / "monitoring"
TEXTS_PER_REQUEST = 8
LOG_WAIT_SECONDS = 30


@dataclass(frozen=True)
class Stream:
    name: str
    path: Path
    alarms: frozenset[str]  # the drift alarms it must set off, by metric name
    may_also: frozenset[str] = frozenset()  # alarms it may set off besides; no other may fire


# In-domain: SST-2 sentences no model of the project trained or was tested on. One-sided: such sentences, all of them
# negative reviews. Out-of-domain: news sent to a sentiment model: longer texts, answered less surely; which class
# a sentiment model gives news is its own affair, so that stream may move the class mix or not (docs/monitoring.md).
STREAMS = (
    Stream("in-domain sentences", STREAMS_DIR / "in_domain.csv", frozenset()),
    Stream("one-sided sentences", STREAMS_DIR / "one_sided.csv", frozenset({DRIFT["class_mix"]})),
    Stream(
        "out-of-domain news",
        STREAMS_DIR / "out_of_domain.csv",
        frozenset({DRIFT["length"], DRIFT["confidence_drop"]}),
        may_also=frozenset({DRIFT["class_mix"]}),
    ),
)


def rehearse_monitor(session: Session, stack: Stack, stage: str, endpoint: LocalEndpoint) -> None:
    report = session.report
    started = report.step(f"{stage}: drift monitor on {len(STREAMS)} streams through the served model")
    rule, target, function = _scheduled(stack, "Baseline")
    group = contract.endpoint_log_group(_endpoint_name(stack))
    logs = session.cloud.admin("logs", stack.account, stack.region)
    filters = [
        f for f in logs.describe_metric_filters(logGroupName=group)["metricFilters"] if is_delimited(f["filterPattern"])
    ]
    drift_alarms = _alarms_on(stack, DRIFT.values())
    cloudwatch = session.cloud.admin("cloudwatch", stack.account, stack.region)
    first_window = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2 * len(STREAMS))
    for index, stream in enumerate(STREAMS):
        fired_at = first_window + timedelta(hours=2 * index)
        lines = _replay(endpoint, _texts(stream.path))
        samples = [sample for f in filters for sample in metric_samples(f, lines)]
        _publish(cloudwatch, samples, fired_at)
        event = target_input(target, scheduled_event(stack, rule, fired_at))
        try:
            answer = call(session.cloud, stack, function.attributes["Arn"], event, session.work / "monitor" / stage)
        except FunctionError as error:
            report.status(f"drift function on the {stream.name}", "FAILED", started, str(error))
            raise RehearsalFailed(f"{stack.name}: the drift function failed: {error}") from error
        fired = _fired(cloudwatch, drift_alarms, event["Namespace"], fired_at)
        figures = ", ".join(f"{DRIFT[k]} {v:.3f}" for k, v in (answer.get("figures") or {}).items())
        detail = (
            f"{len(lines)} signal lines, {len(samples)} metric samples; {figures or 'no figures'}; "
            f"alarms: {', '.join(sorted(fired)) or 'none'}"
        )
        ok = stream.alarms <= fired <= stream.alarms | stream.may_also
        report.status(f"{stream.name}", "ok" if ok else "FAILED", started, detail)
        if not ok:
            expected = ", ".join(sorted(stream.alarms)) or "none"
            allowed = f" (and perhaps {', '.join(sorted(stream.may_also))})" if stream.may_also else ""
            raise RehearsalFailed(
                f"{stack.name}: the {stream.name} set off {detail}; expected alarms: {expected}{allowed}"
            )


def _scheduled(stack: Stack, field: str) -> tuple[Resource, dict, Resource]:
    """The schedule rule whose target's input has ``field``, that target, and the function it invokes."""
    for rule in stack.of_type("AWS::Events::Rule"):
        for target in rule.properties.get("Targets", []):
            handed = target.get("Input") or (target.get("InputTransformer") or {}).get("InputTemplate", "")
            if f'"{field}"' not in handed:
                continue
            functions = stack.of_type("AWS::Lambda::Function")
            return rule, target, next(f for f in functions if f.attributes["Arn"] == target["Arn"])
    raise RehearsalFailed(f"{stack.name}: deployed no schedule whose input has {field}")


def _alarms_on(stack: Stack, metric_names: Iterable[str]) -> dict[str, dict]:
    """The deployed alarms that watch these metrics, by metric name."""
    names = set(metric_names)
    return {
        a.properties["MetricName"]: a.properties
        for a in stack.of_type("AWS::CloudWatch::Alarm")
        if a.properties.get("MetricName") in names
    }


def _endpoint_name(stack: Stack) -> str:
    (endpoint,) = stack.of_type("AWS::SageMaker::Endpoint")
    return endpoint.attributes["EndpointName"]


def _texts(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as source:
        return [row["text"] for row in csv.DictReader(source)]


def _replay(endpoint: LocalEndpoint, texts: list[str]) -> list[str]:
    """Send ``texts`` to the endpoint as users would, a few per request; the signal lines the server logged."""
    before = endpoint.log_lines()
    send = http_sender(f"{endpoint.url}/invocations")
    for start in range(0, len(texts), TEXTS_PER_REQUEST):
        status, body = send(json.dumps({"inputs": texts[start : start + TEXTS_PER_REQUEST]}).encode())
        if status != 200:
            raise RehearsalFailed(f"the endpoint answered {status} to a stream's request: {body[:300]!r}")
    deadline = time.monotonic() + LOG_WAIT_SECONDS
    while True:
        lines = [line for line in endpoint.log_lines()[len(before) :] if contract.SIGNAL_MARKER in line]
        if len(lines) >= len(texts) or time.monotonic() > deadline:
            return lines
        time.sleep(0.2)


def _publish(cloudwatch, samples: list[Sample], fired_at: datetime) -> None:
    """What CloudWatch Logs publishes for the filters' samples, within the window that ends at ``fired_at``."""
    grouped: dict[tuple, list[float]] = {}
    for sample in samples:
        grouped.setdefault((sample.namespace, sample.name, sample.dimensions), []).append(sample.value)
    when = fired_at - timedelta(minutes=30)
    for (namespace, name, dimensions), values in grouped.items():
        statistics = {"SampleCount": len(values), "Sum": sum(values), "Minimum": min(values), "Maximum": max(values)}
        cloudwatch.put_metric_data(
            Namespace=namespace,
            MetricData=[
                {
                    "MetricName": name,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions],
                    "Timestamp": when,
                    "StatisticValues": statistics,
                }
            ],
        )


def _fired(
    cloudwatch, alarms: dict[str, dict], namespace: str, fired_at: datetime, *, minutes_before: int = 1
) -> set[str]:
    """The alarms in ALARM on what a function published at ``fired_at`` (or up to ``minutes_before`` earlier), by
    metric name."""
    metrics, fired = Metrics(), set()
    for name, properties in alarms.items():
        found = cloudwatch.get_metric_data(
            MetricDataQueries=[
                {
                    "Id": "drift",
                    "MetricStat": {
                        "Metric": {"Namespace": namespace, "MetricName": name},
                        "Period": properties["Period"],
                        "Stat": properties["Statistic"],
                    },
                }
            ],
            StartTime=fired_at - timedelta(minutes=minutes_before),
            EndTime=fired_at + timedelta(minutes=1),
        )
        values = [v for result in found["MetricDataResults"] for v in result["Values"]]
        metrics.put(namespace, name, 0, *values)
        if in_alarm(properties, metrics, properties["Period"] // 60 * properties["EvaluationPeriods"]):
            fired.add(name)
    return fired


@dataclass(frozen=True)
class LabelledOutcome:
    judged: int
    figures: dict | None
    fired: set[str]


def rehearse_late_labels(
    cloud: Cloud, stack: Stack, endpoint: LocalEndpoint, texts: list[str], workdir: Path
) -> dict[str, LabelledOutcome]:
    """One text per request with an InferenceId, captured as the deployed DataCaptureConfig says; then two feedback
    files as `textclf feedback upload` writes them: labels that agree with every answer, then the same answers with
    flipped labels. After each, the deployed late-label function runs as its role on its schedule's input, and
    the deployed quality alarms judge what it published. Returns each file's outcome."""
    (config,) = stack.of_type("AWS::SageMaker::EndpointConfig")
    capture_config = config.properties["DataCaptureConfig"]
    (variant,) = config.properties["ProductionVariants"]
    model = served_model(stack)
    capturing = CapturingEndpoint(
        http_sender(f"{endpoint.url}/invocations"),
        capture_config,
        endpoint=_endpoint_name(stack),
        variant=variant["VariantName"],
        s3=cloud.as_role("s3", model.properties["ExecutionRoleArn"], stack.region),
    )
    answers = {}
    for index, text in enumerate(texts):
        inference_id = f"rehearsal-{index}"
        status, body = capturing.invoke(
            json.dumps({"inputs": text}).encode(), content_type=contract.JSON, inference_id=inference_id
        )
        if status != 200:
            raise RehearsalFailed(f"the endpoint answered {status} to a captured request: {body[:300]!r}")
        (answer,) = json.loads(body)
        answers[inference_id] = answer["label"]
    capturing.flush()
    labels = _model_labels(endpoint)
    flipped = {i: next(label for label in labels if label != given) for i, given in answers.items()}
    rule, target, function = _scheduled(stack, "FeedbackPrefix")
    alarms = _alarms_on(stack, LABELLED.values())
    s3, cloudwatch = (
        cloud.admin("s3", stack.account, stack.region),
        cloud.admin("cloudwatch", stack.account, stack.region),
    )
    outcomes = {}
    for name, given in (("agreeing labels", answers), ("flipped labels", flipped)):
        # What `textclf feedback upload` writes, where the stack says (the rehearsal sits below cli/, as users do).
        bucket, key = split_uri(f"{stack.outputs['FeedbackUri']}{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}.jsonl")
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=feedback_body(given),
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=stack.outputs["DataKeyArn"],
        )
        fired_at = datetime.now(UTC)
        event = target_input(target, scheduled_event(stack, rule, fired_at))
        answer = call(cloud, stack, function.attributes["Arn"], event, workdir)
        fired = _fired(cloudwatch, alarms, event["Namespace"], fired_at, minutes_before=5)
        outcomes[name] = LabelledOutcome(answer["judged"], answer["figures"], fired)
    return outcomes


def _model_labels(endpoint: LocalEndpoint) -> list[str]:
    """Every label the served model has, as one request with top_k null ranks them all."""
    status, body = http_sender(f"{endpoint.url}/invocations")(
        json.dumps({"inputs": ["labels?"], "parameters": {"top_k": None}}).encode()
    )
    (ranked,) = json.loads(body)
    return [answer["label"] for answer in ranked]
