"""UpdateEndpoint with deployment guardrails, rehearsed: SageMaker's blue/green traffic shifting between the old
(blue) and new (green) fleet, each bake watched by the endpoint's rollback alarms (SageMaker Developer Guide,
"Blue/Green Deployments", "Use canary traffic shifting", "Use linear traffic shifting", "Auto-Rollback").

Time is counted in minutes of traffic, not waited: each minute sends that minute's requests, routed to the green
fleet with the shifted share of the capacity, and then every rollback alarm is evaluated on the metrics the two
fleets produced. The first alarm in ALARM sends all traffic back to blue and ends the update: the endpoint keeps its
old configuration. Without one, after the final bake green serves everything and blue is gone.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rehearsal.cloudwatch import Metrics, in_alarm

# What SageMaker itself publishes per endpoint (Developer Guide, "Metrics for monitoring Amazon SageMaker AI
# with Amazon CloudWatch"): errors the model container answered with, and its latency in microseconds.
NAMESPACE = "AWS/SageMaker"
ERRORS_5XX, LATENCY = "Invocation5XXErrors", "ModelLatency"

Send = Callable[[bytes], tuple[int, bytes]]


@dataclass(frozen=True)
class Shift:
    percent: int  # of the capacity on green after this shift
    bake_minutes: int


def shifts(deployment_config: dict | None) -> list[Shift]:
    """The update's steps: a bake after each shift, the final bake after the last (TerminationWaitInSeconds)."""
    if not deployment_config or "BlueGreenUpdatePolicy" not in deployment_config:
        return [Shift(100, 0)]  # SageMaker's default: all at once, no bake
    policy = deployment_config["BlueGreenUpdatePolicy"]
    routing = policy["TrafficRoutingConfiguration"]
    wait, final = routing["WaitIntervalInSeconds"] // 60, policy.get("TerminationWaitInSeconds", 0) // 60
    if routing["Type"] == "CANARY":
        percents = [routing["CanarySize"]["Value"], 100]
    elif routing["Type"] == "LINEAR":
        step = routing["LinearStepSize"]["Value"]
        percents = [min(100, step * (i + 1)) for i in range(math.ceil(100 / step))]
    else:
        percents = [100]
    return [Shift(p, wait) for p in percents[:-1]] + [Shift(100, final)]


@dataclass
class Router:
    """The endpoint during an update: each request to green with the shifted share, else blue; what each answered
    is published as SageMaker publishes it.

    Latency is the one figure this host cannot stand in for: its load slows both fleets alike, where AWS gives each
    instance its own hardware. So a green request is timed against the same request sent to blue right after it, on
    this host at this moment, and ModelLatency gets what green adds over blue: the blue fleet, which already passed
    its own release, stands in for AWS's hardware, and a slow release still breaches the stage's threshold by what
    it is slower. A blue request adds nothing over itself."""

    blue: Send
    green: Send
    metrics: Metrics
    seed: int = 0
    percent: int = 0
    minute: int = 0
    sent: dict[str, int] = field(default_factory=lambda: {"blue": 0, "green": 0})
    clock: Callable[[], float] = time.perf_counter

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def send(self, body: bytes) -> tuple[int, bytes]:
        fleet = "green" if self._random.random() * 100 < self.percent else "blue"
        self.sent[fleet] += 1
        if fleet == "green":
            green_s, (status, answer) = self._timed(self.green, body)
            blue_s, _ = self._timed(self.blue, body)
            added_s = max(0.0, green_s - blue_s)
        else:
            status, answer = self.blue(body)
            added_s = 0.0
        self.metrics.put(NAMESPACE, LATENCY, self.minute, added_s * 1e6)
        self.metrics.put(NAMESPACE, ERRORS_5XX, self.minute, 1.0 if status >= 500 else 0.0)
        return status, answer

    def _timed(self, send: Send, body: bytes) -> tuple[float, tuple[int, bytes]]:
        started = self.clock()
        answered = send(body)
        return self.clock() - started, answered


@dataclass
class Outcome:
    completed: bool
    minutes: int
    trail: list[str]
    fired: list[str]  # the rollback alarms in ALARM when SageMaker rolled back
    history: list[dict]  # DescribeAlarmHistory's items: each rollback alarm's move to ALARM


def blue_green(
    deployment_config: dict | None,
    router: Router,
    *,
    rollback_alarms: dict[str, dict],
    minute_of_traffic: Callable[[Router], None],
) -> Outcome:
    """Run the update: ``rollback_alarms`` are the alarms AutoRollbackConfiguration names (name -> deployed
    properties); ``minute_of_traffic`` sends one minute's requests through the router and publishes what the stage's
    own functions and filters publish (probe agreement, worker restarts)."""
    trail, history = [], []
    for shift in shifts(deployment_config):
        router.percent = shift.percent
        trail.append(f"{shift.percent}% to the new fleet, baked {shift.bake_minutes} min")
        for _ in range(shift.bake_minutes):
            minute_of_traffic(router)
            router.minute += 1
            fired = [name for name, alarm in rollback_alarms.items() if in_alarm(alarm, router.metrics, router.minute)]
            if fired:
                history += [{"AlarmName": name, "HistorySummary": "Alarm updated from OK to ALARM"} for name in fired]
                trail.append(f"minute {router.minute}: {', '.join(fired)} in ALARM: all traffic back to the old fleet")
                return Outcome(False, router.minute, trail, fired, history)
    return Outcome(True, router.minute, trail, [], history)
