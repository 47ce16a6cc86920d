"""Every window: how far the endpoint's traffic over the last window drifted from the served package's baseline.

The stack's metric filters turn the handler's per-text signal lines into per-minute counts; this function sums the
last window of them and publishes three figures, which the stack's alarms watch:
- class-mix drift: the Jensen-Shannon divergence (base 2, 0 to 1) of the predicted-class shares from the baseline's;
- confidence drop: the baseline's mean top score minus the window's;
- length drift: the Jensen-Shannon divergence of the token-length bucket shares from the baseline's.
A window with fewer than MinRequests answered texts publishes nothing: its shares are noise, and the alarms treat
the missing figure as not breaching.

The event (the schedule's input, written at synth, with the time it fired): {"Time", "Namespace",
"WindowMinutes", "MinRequests", "Signals": {"predictions", "score", "length"} metric names, "Drift": {"class_mix",
"confidence_drop", "length"} metric names, "Baseline": {"class_mix": [...], "length": [...], "mean_score"}}.
Lambda's python3.14 runtime: boto3 only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import boto3


@dataclass(frozen=True)
class Window:
    class_counts: list[float]
    length_counts: list[float]
    score_sum: float

    @property
    def requests(self) -> float:
        return sum(self.class_counts)


def js_divergence(p: list[float], q: list[float]) -> float:
    """Jensen-Shannon divergence in bits: 0 for equal shares, 1 for shares with no class in common."""
    p, q = _normalized(p), _normalized(q)
    middle = [(a + b) / 2 for a, b in zip(p, q, strict=True)]

    def kl(x: list[float]) -> float:
        return sum(a * math.log2(a / m) for a, m in zip(x, middle, strict=True) if a > 0)

    return max(0.0, (kl(p) + kl(q)) / 2)


def _normalized(values: list[float]) -> list[float]:
    total = sum(values)
    return [v / total for v in values] if total > 0 else [1 / len(values)] * len(values)


def drift(baseline: dict, window: Window, min_requests: int) -> dict[str, float] | None:
    """The three figures by their key in the event's "Drift"; None when the window holds too few texts."""
    if window.requests < max(1, min_requests):
        return None
    return {
        "class_mix": js_divergence(baseline["class_mix"], window.class_counts),
        "confidence_drop": baseline["mean_score"] - window.score_sum / window.requests,
        "length": js_divergence(baseline["length"], window.length_counts),
    }


def read_window(cloudwatch, event: dict, end: datetime) -> Window:
    """Sums of the signal metrics over the window that ends at ``end``, one GetMetricData request."""
    minutes, namespace, names = event["WindowMinutes"], event["Namespace"], event["Signals"]
    baseline = event["Baseline"]

    def query(query_id: str, metric: str, dimension: tuple[str, str] | None = None) -> dict:
        dimensions = [{"Name": dimension[0], "Value": dimension[1]}] if dimension else []
        metric_spec = {"Namespace": namespace, "MetricName": metric, "Dimensions": dimensions}
        return {"Id": query_id, "MetricStat": {"Metric": metric_spec, "Period": minutes * 60, "Stat": "Sum"}}

    queries = [
        *(query(f"c{i}", names["predictions"], ("Class", str(i))) for i in range(len(baseline["class_mix"]))),
        *(query(f"l{i}", names["length"], ("Bucket", str(i))) for i in range(len(baseline["length"]))),
        query("s", names["score"]),
    ]
    sums = {q["Id"]: 0.0 for q in queries}
    arguments = {"MetricDataQueries": queries, "StartTime": end - timedelta(minutes=minutes), "EndTime": end}
    for page in cloudwatch.get_paginator("get_metric_data").paginate(**arguments):
        for result in page["MetricDataResults"]:
            sums[result["Id"]] += sum(result["Values"])
    return Window(
        class_counts=[sums[f"c{i}"] for i in range(len(baseline["class_mix"]))],
        length_counts=[sums[f"l{i}"] for i in range(len(baseline["length"]))],
        score_sum=sums["s"],
    )


def window_end(time: str) -> datetime:
    """The minute the schedule fired in (EventBridge's ISO 8601 time, e.g. 2026-12-06T10:00:00Z): whole minutes only."""
    return datetime.fromisoformat(time.replace("Z", "+00:00")).astimezone(UTC).replace(second=0, microsecond=0)


def handler(event: dict, context) -> dict:
    cloudwatch = boto3.client("cloudwatch")
    end = window_end(event["Time"])
    window = read_window(cloudwatch, event, end)
    figures = drift(event["Baseline"], window, event["MinRequests"])
    if figures is not None:
        cloudwatch.put_metric_data(
            Namespace=event["Namespace"],
            MetricData=[
                {"MetricName": event["Drift"][key], "Value": value, "Timestamp": end} for key, value in figures.items()
            ],
        )
    return {"requests": window.requests, "figures": figures}
