"""CloudWatch as a guarded update meets it: metric samples per minute, and the deployed alarms' verdict on them.

An alarm is evaluated as CloudWatch documents it ("Evaluating an alarm"): the samples of each period make one
datapoint by the alarm's statistic; of the last EvaluationPeriods datapoints, DatapointsToAlarm breaching ones put it
in ALARM; a period without samples is treated as TreatMissingData says (the stack's alarms: notBreaching). Log
metric filters count the lines CloudWatch Logs itself (moto) matches with the deployed filter pattern.
"""

from __future__ import annotations

import math
import operator
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": operator.ge,
    "GreaterThanThreshold": operator.gt,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}
STATISTICS: dict[str, Callable[[list[float]], float]] = {
    "Sum": sum,
    "Average": lambda values: sum(values) / len(values),
    "Minimum": min,
    "Maximum": max,
    "SampleCount": len,
}


@dataclass
class Metrics:
    """Samples by (namespace, metric name) and the minute they were published in."""

    samples: dict[tuple[str, str], dict[int, list[float]]] = field(default_factory=lambda: defaultdict(dict))

    def put(self, namespace: str, name: str, minute: int, *values: float) -> None:
        self.samples[(namespace, name)].setdefault(minute, []).extend(values)


def statistic(properties: dict, values: list[float]) -> float:
    if "ExtendedStatistic" in properties:  # pNN
        percentile = float(properties["ExtendedStatistic"][1:])
        ordered = sorted(values)
        return ordered[max(0, math.ceil(percentile / 100 * len(ordered)) - 1)]
    return STATISTICS[properties["Statistic"]](values)


def in_alarm(properties: dict, metrics: Metrics, minutes_elapsed: int) -> bool:
    """The alarm's state once ``minutes_elapsed`` minutes of samples exist: only whole periods are datapoints."""
    period = properties["Period"] // 60
    evaluation = properties["EvaluationPeriods"]
    needed = properties.get("DatapointsToAlarm", evaluation)
    samples = metrics.samples.get((properties["Namespace"], properties["MetricName"]), {})
    complete = minutes_elapsed // period
    breaching = 0
    for index in range(max(0, complete - evaluation), complete):
        values = [v for minute in range(index * period, (index + 1) * period) for v in samples.get(minute, [])]
        if not values:
            breaching += properties.get("TreatMissingData", "missing") == "breaching"
            continue
        breaching += COMPARISONS[properties["ComparisonOperator"]](
            statistic(properties, values), properties["Threshold"]
        )
    return breaching >= needed


class LogMetricFilter:
    """Lines shipped to a deployed log group, counted by the pattern of its deployed metric filter that looks for
    ``term`` (a quoted-term pattern, which moto matches)."""

    def __init__(self, logs, group: str, stream: str, *, term: str) -> None:
        self.logs, self.group = logs, group
        (metric_filter,) = [
            f for f in logs.describe_metric_filters(logGroupName=group)["metricFilters"] if term in f["filterPattern"]
        ]
        self.pattern = metric_filter["filterPattern"]
        self.transformation = metric_filter["metricTransformations"][0]
        self.stream = {"logGroupName": group, "logStreamName": stream}
        logs.create_log_stream(**self.stream)

    def count(self, lines: list[str]) -> int:
        if not lines:
            return 0
        now = int(time.time() * 1000)
        self.logs.put_log_events(**self.stream, logEvents=[{"timestamp": now, "message": line} for line in lines])
        found = self.logs.filter_log_events(
            logGroupName=self.group,
            logStreamNames=[self.stream["logStreamName"]],
            filterPattern=self.pattern,
            startTime=now,
        )
        return len(found["events"])
