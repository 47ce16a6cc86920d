"""Smoke test of a deployed endpoint: known texts must get their labels, fast enough, and bad input a 4xx.

    python -m delivery_steps.smoke \\
        --url https://runtime.sagemaker.<region>.amazonaws.com/endpoints/<name>/invocations \\
        --role-arn <smoke-test role> --cases data/smoke_cases.jsonl
    python -m delivery_steps.smoke --url http://127.0.0.1:8080/invocations --cases data/smoke_cases.jsonl

The same script checks the local endpoint in the test suite and the staging and prod endpoints in
the delivery pipeline; only the URL differs. SageMaker runtime URLs are signed with SigV4 (botocore,
with the role assumed when given); any other URL is sent as is. It needs only the standard library
and, for SageMaker, boto3.

With ``--endpoint-config`` it first checks that the endpoint serves the endpoint configuration this release
deployed: a guarded update that SageMaker rolled back leaves the endpoint InService on the old one, and
CloudFormation may still report the update complete. The stage then fails, naming both configurations and the
rollback alarms that fired.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

NO_ENDPOINT = "none"
SERVING = "InService"
SAGEMAKER_RUNTIME = re.compile(r"^https://runtime\.sagemaker\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?/")
# Serverless endpoints start a container on the first request after idling; that one is not judged.
COLD_START_TIMEOUT_S = 120.0
REQUEST_TIMEOUT_S = 30.0
# Asked for a label list of an empty text, the handler must answer 400 (SageMaker relays it as 424).
BAD_REQUEST = {"inputs": ""}


class SmokeError(ValueError):
    """The cases file or the arguments are unusable; the message names the fix."""


@dataclass(frozen=True)
class Case:
    text: str
    label: str


@dataclass
class Outcome:
    wrong: dict[str, str]  # case text -> its first failure
    failures: list[str]  # everything else: warm-up, the bad-request check
    latencies_ms: list[float]
    cold_start_ms: float

    @property
    def p95_ms(self) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


Send = Callable[..., tuple[int, bytes]]  # send(body, timeout=REQUEST_TIMEOUT_S) -> (status, body)


def read_cases(path: Path) -> list[Case]:
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            cases.append(Case(text=row["text"], label=row["label"]))
        except (ValueError, KeyError, TypeError) as error:
            raise SmokeError(
                f"{path}:{number}: expected a JSON object with text and label ({error}). "
                'Fix: write lines like {"text": "a great film", "label": "positive"}.'
            ) from error
        if not (isinstance(cases[-1].text, str) and cases[-1].text.strip() and isinstance(cases[-1].label, str)):
            raise SmokeError(f"{path}:{number}: text must be a non-empty string and label a string. Fix: quote both.")
    if not cases:
        raise SmokeError(f"{path}: no cases. Fix: add at least one line per label the model must get right.")
    return cases


def http_sender(url: str, sign: Callable[[urllib.request.Request], None] | None = None) -> Send:
    def send(body: bytes, timeout: float = REQUEST_TIMEOUT_S) -> tuple[int, bytes]:
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "application/json", "Accept": "application/json"}
        )
        if sign is not None:
            sign(request)
        return status_and_body(request, timeout)

    return send


def status_and_body(request: urllib.request.Request, timeout: float) -> tuple[int, bytes]:
    """(status, body) for any status: an error answer is a result to judge, not an exception."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def role_session(region: str, role_arn: str | None):
    """A boto3 session as the given role (or the caller's own credentials)."""
    import boto3

    session = boto3.Session(region_name=region)
    if role_arn:
        assumed = session.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="textclf-smoke-test")
        session = boto3.Session(
            region_name=region,
            aws_access_key_id=assumed["Credentials"]["AccessKeyId"],
            aws_secret_access_key=assumed["Credentials"]["SecretAccessKey"],
            aws_session_token=assumed["Credentials"]["SessionToken"],
        )
    if session.get_credentials() is None:
        raise SmokeError("no AWS credentials to sign the SageMaker request. Fix: run with a role or profile.")
    return session


def sigv4_signer(session) -> Callable[[urllib.request.Request], None]:
    """Sign requests for the SageMaker runtime with ``session``'s credentials."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    credentials = session.get_credentials()

    def sign(request: urllib.request.Request) -> None:
        signed = AWSRequest(method="POST", url=request.full_url, data=request.data, headers=dict(request.headers))
        SigV4Auth(credentials.get_frozen_credentials(), "sagemaker", session.region_name).add_auth(signed)
        for name, value in signed.headers.items():
            request.add_header(name, value)

    return sign


AlarmHistory = Callable[[str, datetime], list[dict]]  # (alarm name, since) -> DescribeAlarmHistory's items


def rollback_alarms(deployment_config: dict | None) -> list[str]:
    """The alarm names a DeploymentConfig's AutoRollbackConfiguration lists (CreateEndpoint's or DescribeEndpoint's)."""
    return [a["AlarmName"] for a in (deployment_config or {}).get("AutoRollbackConfiguration", {}).get("Alarms", [])]


def traffic_routing(deployment_config: dict | None) -> str:
    """ALL_AT_ONCE, CANARY or LINEAR: SageMaker's default where no blue/green policy is given."""
    policy = (deployment_config or {}).get("BlueGreenUpdatePolicy", {})
    return policy.get("TrafficRoutingConfiguration", {}).get("Type", "ALL_AT_ONCE")


def served_config_problems(endpoint: dict, expected: str, alarm_history: AlarmHistory) -> list[str]:
    """Why ``endpoint`` (DescribeEndpoint's answer) does not serve ``expected``; empty when it does."""
    name, served, status = endpoint["EndpointName"], endpoint.get("EndpointConfigName"), endpoint["EndpointStatus"]
    if served == expected and status == SERVING:
        return []
    if served == expected:
        return [f"endpoint {name} is {status}, not {SERVING}: {endpoint.get('FailureReason') or 'no reason given'}"]
    deployment = endpoint.get("LastDeploymentConfig") or {}
    alarms = rollback_alarms(deployment)
    timeout = deployment.get("BlueGreenUpdatePolicy", {}).get("MaximumExecutionTimeoutInSeconds", 3600)
    since = endpoint["LastModifiedTime"] - timedelta(seconds=timeout)
    fired = [
        alarm
        for alarm in alarms
        if any(h.get("HistorySummary", "").endswith("to ALARM") for h in alarm_history(alarm, since))
    ]
    why = f"rollback alarm(s) that fired: {', '.join(fired)}" if fired else "no rollback alarm fired"
    reason = endpoint.get("FailureReason")
    return [
        f"endpoint {name} serves endpoint config {served}, not {expected}, which this release deployed: SageMaker "
        f"rolled the update back ({why}{'; ' + reason if reason else ''}). The old model still serves. Fix: read the "
        "alarms on the stage's dashboard, fix the model and release again, or reject the package to release the "
        "one before it"
    ]


def cloudwatch_history(client) -> AlarmHistory:
    """DescribeAlarmHistory through a CloudWatch client."""

    def history(alarm: str, since: datetime) -> list[dict]:
        return client.describe_alarm_history(
            AlarmName=alarm, HistoryItemType="StateUpdate", StartDate=since, MaxRecords=100
        )["AlarmHistoryItems"]

    return history


def run_cases(send: Send, cases: list[Case], *, repeats: int) -> Outcome:
    """One warm-up request, then every case ``repeats`` times; labels are judged on every answer."""
    started = time.perf_counter()
    status, body = send(_body(cases[0].text), timeout=COLD_START_TIMEOUT_S)
    cold_start_ms = (time.perf_counter() - started) * 1000
    failures = [] if status == 200 else [f"warm-up request: HTTP {status}: {body[:300]!r}"]
    wrong, latencies = {}, []
    for _ in range(repeats):
        for case in cases:
            started = time.perf_counter()
            status, body = send(_body(case.text))
            latencies.append((time.perf_counter() - started) * 1000)
            failure = _judge(case, status, body)
            if failure:
                wrong.setdefault(case.text, failure)
    status, body = send(json.dumps(BAD_REQUEST).encode())
    if not 400 <= status < 500:
        failures.append(f"an empty text got HTTP {status}, expected a 4xx client error: {body[:300]!r}")
    return Outcome(wrong=wrong, failures=failures, latencies_ms=latencies, cold_start_ms=cold_start_ms)


def verdict(outcome: Outcome, cases: list[Case], *, latency_p95_ms: float, min_accuracy: float) -> list[str]:
    """Every reason the release must not proceed; empty when it passes."""
    problems = list(outcome.failures)
    accuracy = 1 - len(outcome.wrong) / len(cases)
    if accuracy < min_accuracy:
        problems += list(outcome.wrong.values())
        problems.append(f"accuracy on the smoke cases {accuracy:.0%} is below the required {min_accuracy:.0%}")
    if outcome.p95_ms > latency_p95_ms:
        problems.append(f"p95 latency {outcome.p95_ms:.0f} ms exceeds the budget of {latency_p95_ms:.0f} ms")
    return problems


def _body(text: str) -> bytes:
    return json.dumps({"inputs": [text]}).encode()


def _judge(case: Case, status: int, body: bytes) -> str | None:
    if status != 200:
        return f"case {case.text!r}: HTTP {status}: {body[:300]!r}"
    try:
        (answer,) = json.loads(body)
        label, score = answer["label"], answer["score"]
    except (ValueError, KeyError, TypeError):
        return f"case {case.text!r}: unreadable answer {body[:300]!r}"
    if label != case.label:
        return f"case {case.text!r}: expected {case.label}, got {label} ({score:.2f})"
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m delivery_steps.smoke", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--url",
        required=True,
        help=f"the endpoint's invocations URL; '{NO_ENDPOINT}' (no model served yet) skips the test",
    )
    parser.add_argument(
        "--role-arn",
        default="",
        help="role to assume to invoke a SageMaker endpoint (the stage's SmokeTestRoleArn output)",
    )
    parser.add_argument(
        "--cases",
        type=Path,
        default=Path("data/smoke_cases.jsonl"),
        help="JSON lines of {text, label} the model must classify correctly",
    )
    parser.add_argument(
        "--latency-p95-ms",
        type=float,
        default=3000.0,
        help="fail when the 95th percentile request latency (after warm-up) exceeds this",
    )
    parser.add_argument(
        "--min-accuracy", type=float, default=1.0, help="fraction of cases that must get their label (1.0: all of them)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="times each case is sent, for the latency figure")
    parser.add_argument(
        "--endpoint-config",
        default=NO_ENDPOINT,
        help="the endpoint configuration this release deployed (the stage's EndpointConfigName output); the "
        "test fails when the endpoint serves another, as after SageMaker rolled an update back",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.url == NO_ENDPOINT:
        print("No endpoint in this release (no approved model package yet): smoke test skipped.")
        return 0
    try:
        cases = read_cases(args.cases)
        runtime = SAGEMAKER_RUNTIME.match(args.url)
        session = role_session(runtime.group("region"), args.role_arn or None) if runtime else None
        served = served_problems(session, args) if session is not None else []
        if served:
            for problem in served:
                print(f"FAIL {problem}", file=sys.stderr)
            print(f"FAILED: {len(served)} problem(s)")
            return 1
        outcome = run_cases(
            http_sender(args.url, sigv4_signer(session) if session else None), cases, repeats=args.repeats
        )
    except (SmokeError, OSError) as error:
        print(f"smoke test could not run: {error}", file=sys.stderr)
        return 2
    problems = verdict(outcome, cases, latency_p95_ms=args.latency_p95_ms, min_accuracy=args.min_accuracy)
    print(
        f"smoke test of {args.url}: {len(cases)} cases x {args.repeats}, cold start {outcome.cold_start_ms:.0f} ms, "
        f"p95 {outcome.p95_ms:.0f} ms (budget {args.latency_p95_ms:.0f} ms)"
    )
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    for miss in outcome.wrong.values() if not problems else ():
        print(f"tolerated (--min-accuracy {args.min_accuracy}): {miss}")
    print("PASS" if not problems else f"FAILED: {len(problems)} problem(s)")
    return 1 if problems else 0


def served_problems(session, args: argparse.Namespace) -> list[str]:
    if args.endpoint_config == NO_ENDPOINT:
        return []
    name = args.url.rstrip("/").split("/")[-2]  # .../endpoints/<name>/invocations
    endpoint = session.client("sagemaker").describe_endpoint(EndpointName=name)
    return served_config_problems(endpoint, args.endpoint_config, cloudwatch_history(session.client("cloudwatch")))


if __name__ == "__main__":
    sys.exit(main())
