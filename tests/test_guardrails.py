"""The rehearsal's blue/green update: the steps SageMaker takes for the synthesized DeploymentConfig, traffic routed
by the shifted share, and the deployed alarm definitions evaluated as CloudWatch evaluates them."""

from __future__ import annotations

import functools
import json

import pytest
from test_serving import CANARY, LINEAR, PROBES, serve

from rehearsal.cloudwatch import Metrics, in_alarm
from rehearsal.sagemaker.guardrails import Router, Shift, blue_green, shifts
from stacks.update_policy import UpdatePolicy

CASES = [("positive", "a great film"), ("negative", "an awful film")]


@functools.cache
def deployed(policy: UpdatePolicy, latency_p99_ms: int | None = None) -> tuple[dict, dict[str, dict]]:
    """The endpoint's DeploymentConfig and its rollback alarms' properties, as synthesized (named by logical id);
    ``latency_p99_ms`` replaces the test settings' latency threshold."""
    latency = {} if latency_p99_ms is None else {"latency_p99_ms": latency_p99_ms}
    _, template = serve(update=policy, probes=PROBES, **latency)
    (endpoint,) = template.find_resources("AWS::SageMaker::Endpoint").values()
    config = endpoint["Properties"]["DeploymentConfig"]
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    names = [a["AlarmName"]["Ref"] for a in config["AutoRollbackConfiguration"]["Alarms"]]
    return config, {name: _plain(alarms[name]["Properties"]) for name in names}


def _plain(properties: dict) -> dict:
    """The alarm as deployed: its metric's Namespace is a plain string here; dimensions do not matter to the math."""
    return json.loads(json.dumps(properties))


def test_canary_and_linear_take_the_steps_their_policy_says():
    assert shifts(deployed(CANARY)[0]) == [Shift(25, 5), Shift(100, 5)]
    assert shifts(deployed(LINEAR)[0]) == [Shift(20, 5), Shift(40, 5), Shift(60, 5), Shift(80, 5), Shift(100, 10)]
    assert shifts(None) == [Shift(100, 0)], "no DeploymentConfig: all at once, no bake"


def fleet(answer_wrongly: bool = False, status: int = 200):
    def send(body: bytes) -> tuple[int, bytes]:
        (text,) = json.loads(body)["inputs"]
        label = "positive" if ("great" in text or "moving" in text) else "negative"
        if answer_wrongly:
            label = "negative" if label == "positive" else "positive"
        return status, json.dumps([{"label": label, "score": 0.99}]).encode()

    return send


def published_to(metric_name: str) -> str:
    """The namespace the deployed rollback alarm on ``metric_name`` reads: where its publisher must write."""
    return next(a["Namespace"] for a in deployed(CANARY)[1].values() if a["MetricName"] == metric_name)


def minute_of_traffic(router: Router, *, probe_runs: bool = True) -> None:
    """Users' requests and the probe's round, publishing agreement as the deployed probe function does (unless
    ``probe_runs`` is False: a probe that fails or stopped publishes nothing)."""
    from stacks.functions.quality_probe.index import agreement

    for _, text in CASES:
        router.send(json.dumps({"inputs": [text]}).encode())
    if probe_runs:
        value = agreement(router.send, [list(p) for p in PROBES] * 12)
        router.metrics.put(published_to("ProbeAgreement"), "ProbeAgreement", router.minute, value)
    router.metrics.put(published_to("ModelServerWorkerRestarts"), "ModelServerWorkerRestarts", router.minute, 0.0)


@pytest.mark.parametrize("policy", [CANARY, LINEAR], ids=["canary", "linear"])
def test_a_good_release_completes_every_step_with_the_traffic_shifted_as_the_policy_says(policy):
    config, alarms = deployed(policy)
    router = Router(fleet(), fleet(), Metrics(), seed=1)
    outcome = blue_green(config, router, rollback_alarms=alarms, minute_of_traffic=minute_of_traffic)
    assert outcome.completed and outcome.fired == [] and outcome.minutes == policy.planned_minutes
    assert len(outcome.trail) == len(policy.steps())
    # Routed by the shifted share, minute by minute: the first bake sends about traffic_percent to green.
    requests_per_minute = len(CASES) + 24
    total = requests_per_minute * policy.planned_minutes
    expected_green = sum(shift.percent * shift.bake_minutes * requests_per_minute / 100 for shift in shifts(config))
    assert router.sent["green"] == pytest.approx(expected_green, rel=0.15)
    assert router.sent["blue"] + router.sent["green"] == total


@pytest.mark.parametrize(
    "green, watched, alarm, minute",
    [
        # Fast, no errors, wrong: two minutes of five below the agreement floor.
        (fleet(answer_wrongly=True), "", "ProbeAgreementAlarm", 2),
        # A failing handler: the HF toolkit answers 400, not 5XX; a probe's error is a disagreement.
        (fleet(status=400), "", "ProbeAgreementAlarm", 2),
        # A dying worker's 500s: the probe sees them first; alone, the five-minute 5XX sum fires by the bake's end.
        (fleet(status=500), "", "ProbeAgreementAlarm", 2),
        (fleet(status=500), "ServerErrors", "ServerErrorsAlarm", 5),
    ],
    ids=["wrong-answers", "handler-fails", "server-errors", "server-errors-alarm-alone"],
)
def test_a_bad_canary_rolls_back_on_the_alarm_that_sees_it_within_the_first_bake(green, watched, alarm, minute):
    config, alarms = deployed(CANARY)
    router = Router(fleet(), green, Metrics(), seed=1)
    watching = {name: properties for name, properties in alarms.items() if watched in name}
    outcome = blue_green(config, router, rollback_alarms=watching, minute_of_traffic=minute_of_traffic)
    assert not outcome.completed
    assert [name for name in outcome.fired if name.startswith(f"Serving{alarm}")], outcome.fired
    assert outcome.minutes == minute <= 5, "within the canary's bake, before all traffic shifts"
    assert outcome.history and all(h["HistorySummary"].endswith("to ALARM") for h in outcome.history)


def test_an_update_watched_by_a_broken_probe_rolls_back_instead_of_completing_unwatched():
    """Issue 45, finding 4: the probe alarm treated missing data as not breaching, so a probe that failed (or
    stopped) removed the only guard against a fast, wrong model, and the update completed. Missing is now a breach."""
    config, alarms = deployed(CANARY)
    router = Router(fleet(), fleet(), Metrics(), seed=1)
    outcome = blue_green(
        config, router, rollback_alarms=alarms, minute_of_traffic=lambda r: minute_of_traffic(r, probe_runs=False)
    )
    assert not outcome.completed and outcome.minutes == 2
    assert [name for name in outcome.fired if name.startswith("ServingProbeAgreementAlarm")], outcome.fired


class Clock:
    """Seconds that pass only when a fleet answers: latency without sleeping."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def taking(seconds: float, send, clock: Clock):
    def answer(body: bytes) -> tuple[int, bytes]:
        clock.now += seconds
        return send(body)

    return answer


def as_deployed(stage: dict) -> tuple[dict, dict[str, dict]]:
    """A stage's DeploymentConfig and rollback alarms as cdk.json sets them: its update policy and p99 threshold."""
    policy = UpdatePolicy(
        kind=stage["update_policy"],
        traffic_percent=stage["update_traffic_percent"],
        bake_minutes=stage["update_bake_minutes"],
        final_bake_minutes=stage["update_final_bake_minutes"],
    )
    return deployed(policy, stage["alarm_latency_p99_ms"])


@pytest.mark.parametrize("stage", ["staging", "prod"])
def test_a_release_two_seconds_slower_rolls_back_on_the_latency_alarm(cdk_context, stage):
    config, alarms = as_deployed(cdk_context["stages"][stage])
    clock = Clock()
    router = Router(taking(0.05, fleet(), clock), taking(2.05, fleet(), clock), Metrics(), seed=1, clock=clock)
    outcome = blue_green(config, router, rollback_alarms=alarms, minute_of_traffic=minute_of_traffic)
    assert not outcome.completed
    assert [name for name in outcome.fired if name.startswith("ServingLatencyP99Alarm")], outcome.fired


@pytest.mark.parametrize("stage", ["staging", "prod"])
def test_a_loaded_host_that_slows_both_fleets_past_the_threshold_rolls_nothing_back(cdk_context, stage):
    """What rolled a good release back before: the same model on a busy machine answered in over a second."""
    settings = cdk_context["stages"][stage]
    config, alarms = as_deployed(settings)
    clock = Clock()
    host_s = 1.5 * settings["alarm_latency_p99_ms"] / 1000
    router = Router(taking(host_s, fleet(), clock), taking(host_s, fleet(), clock), Metrics(), seed=1, clock=clock)
    outcome = blue_green(config, router, rollback_alarms=alarms, minute_of_traffic=minute_of_traffic)
    assert outcome.completed and outcome.fired == []


def test_alarms_use_whole_periods_their_statistic_and_treat_missing_data_as_not_breaching():
    alarm = {
        "Namespace": "n",
        "MetricName": "m",
        "Period": 60,
        "EvaluationPeriods": 5,
        "DatapointsToAlarm": 3,
        "ExtendedStatistic": "p99",
        "Threshold": 100.0,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
    }
    metrics = Metrics()
    for minute in (0, 2):
        metrics.put("n", "m", minute, *([10.0] * 99), 500.0)  # p99 of 100 samples is the 99th: 10
    metrics.put("n", "m", 1, 500.0, 600.0)
    metrics.put("n", "m", 3, 700.0)
    assert not in_alarm(alarm, metrics, 3), "one breaching minute, two quiet, the rest missing"
    assert in_alarm({**alarm, "DatapointsToAlarm": 2}, metrics, 4)
    assert not in_alarm({**alarm, "DatapointsToAlarm": 2}, metrics, 3), "minute 3 is not a whole period yet"
    assert not in_alarm({**alarm, "Period": 300, "EvaluationPeriods": 1, "DatapointsToAlarm": 1}, metrics, 4)
