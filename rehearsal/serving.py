"""A stage's model served as SageMaker would serve it: the endpoint's model on the local endpoint, read as the model
role, smoke-tested as the delivery pipeline does; then `textclf batch`'s transform job of the batch model."""

from __future__ import annotations

import importlib.util
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from delivery_steps import smoke
from delivery_steps.smoke import http_sender
from rehearsal.cloudformation.custom_resources import unpack_code
from rehearsal.cloudformation.model import Stack
from rehearsal.cloudwatch import LogMetricFilter, Metrics
from rehearsal.deployed import model_container, model_named, served_model
from rehearsal.iam import AccessDenied, Request
from rehearsal.monitoring import rehearse_monitor
from rehearsal.pipeline_run import batch_lines, batch_rows
from rehearsal.probes import check_alarm_actions, check_worker_alarm
from rehearsal.report import RehearsalFailed
from rehearsal.sagemaker.channels import split_uri
from rehearsal.sagemaker.guardrails import Outcome, Router, blue_green
from rehearsal.sagemaker.local_endpoint import LocalEndpoint, free_port
from rehearsal.sagemaker.transform import TransformFailed, run_on_local_endpoint
from rehearsal.session import Session
from stacks.batch_request import transform_arguments
from stacks.project import ROOT
from training import contract

BATCH_MIN_ACCURACY = 0.6


def serve_and_smoke(session: Session, stack: Stack, stage: str, *, batch: bool = True, monitor: bool = False) -> None:
    """``batch``: also run `textclf batch`'s transform job of the stage's batch model; ``monitor``: replay the drift
    monitor's streams (the same constructs in every stage: the delivery flow runs both in the last one only)."""
    report = session.report
    started = report.step(f"Serve stage {stage}'s model on the local endpoint and smoke-test it")
    with fleet(session, stack, stage) as endpoint:
        args = smoke.build_parser().parse_args(["--url", f"{endpoint.url}/invocations"])
        cases = smoke.read_cases(ROOT / args.cases)
        outcome = smoke.run_cases(smoke.http_sender(f"{endpoint.url}/invocations"), cases, repeats=args.repeats)
        problems = smoke.verdict(outcome, cases, latency_p95_ms=args.latency_p95_ms, min_accuracy=args.min_accuracy)
        report.status(
            f"smoke test ({len(cases)} cases x {args.repeats})",
            "ok" if not problems else "FAILED",
            started,
            f"p95 {outcome.p95_ms:.0f} ms" + ("; " + "; ".join(problems) if problems else ""),
        )
        if problems:
            raise RehearsalFailed(f"stage {stage}: smoke test failed: {'; '.join(problems)}")
        if monitor:
            rehearse_monitor(session, stack, stage, endpoint)
        check_worker_alarm(session.cloud, report, stack, endpoint)
    check_alarm_actions(session.cloud, stack, report)
    if batch:
        batch_transform(session, stack, stage)


def fleet(session: Session, stack: Stack, stage: str, label: str = "model", *, routed: bool = False) -> LocalEndpoint:
    """A local endpoint for the model ``stack``'s endpoint config names, its data read as the model's role, as
    SageMaker starts an endpoint's instances; ``with fleet(...) as endpoint`` serves it. ``routed``: it takes traffic
    once its handler answers at all, as an update's new fleet does once /ping passes."""
    report, started = session.report, time.perf_counter()
    model = served_model(stack)
    container, data_url = model_container(session.cloud, stack, model)
    folder = session.work / "serving" / stage / f"{label}-{model.attributes['ModelName']}"
    folder.mkdir(parents=True, exist_ok=True)
    s3 = session.cloud.as_role("s3", model.properties["ExecutionRoleArn"], session.region)
    bucket, key = split_uri(data_url)
    try:
        s3.download_file(bucket, key, str(folder / "model.tar.gz"))
    except Exception as error:
        report.status("model role reads the model data", "FAILED", started, str(error))
        raise RehearsalFailed(f"stage {stage}: the model execution role cannot read {data_url}: {error}") from error
    fleet_name = "" if label == "model" else f"{label} fleet: "
    report.status(f"{fleet_name}model role reads the model data", "ok", started, data_url)
    env = {**container.get("Environment", {})}
    report.log(f"        {label}: serves with env={json.dumps(env)}")
    return LocalEndpoint(folder / "model.tar.gz", port=free_port(), workers=1, env=env, ready_on_any_answer=routed)


def batch_transform(session: Session, stack: Stack, stage: str) -> None:
    """`textclf batch`'s CreateTransformJob arguments (stacks.batch_request), run as a transform job would run
    them: as the batch role, on a local endpoint with the batch model's own environment."""
    report = session.report
    started = report.step(f"Score a file in a batch transform job of stage {stage}'s batch model")
    outputs = stack.outputs
    model = model_named(stack, outputs["BatchModelName"])
    container, data_url = model_container(session.cloud, stack, model)
    role = model.properties["ExecutionRoleArn"]
    rows = batch_rows()
    input_uri = f"{outputs['BatchInputUri']}rehearsal/texts.jsonl"
    bucket, key = split_uri(input_uri)
    session.cloud.admin("s3", stack.account, stack.region).put_object(Bucket=bucket, Key=key, Body=batch_lines(rows))
    request = {
        "TransformJobName": "rehearsal",
        **transform_arguments(
            model_name=outputs["BatchModelName"],
            input_uri=input_uri,
            output_uri=f"{outputs['BatchOutputUri']}rehearsal/",
            content_type=contract.JSONLINES,
            key_arn=outputs["DataKeyArn"],
            instance_type="ml.c6i.xlarge",
            instance_count=1,
            stage=stage,
        ),
    }
    try:
        result = run_on_local_endpoint(
            request,
            s3=session.cloud.as_role("s3", role, session.region),
            model_data_url=data_url,
            environment=container.get("Environment", {}),
            folder=session.work / "batch" / stage,
        )
    except (AccessDenied, TransformFailed) as error:
        report.status("batch transform", "FAILED", started, str(error))
        raise RehearsalFailed(f"stage {stage}: batch transform failed: {error}") from error
    (answers,) = result.outputs.values()
    best = [json.loads(line) for line in answers.splitlines()]
    labels = [(b[0] if isinstance(b, list) else b)["label"] for b in best]
    names = {"0": "negative", "1": "positive"}
    right = sum(label == names.get(row["label"], row["label"]) for label, row in zip(labels, rows, strict=True))
    accuracy = right / len(rows)
    detail = (
        f"{result.lines} lines in {result.requests} request(s) as the batch role, answers at "
        f"{next(iter(result.outputs))}, accuracy {accuracy:.1%}"
    )
    ok = len(labels) == len(rows) and accuracy >= BATCH_MIN_ACCURACY
    report.status("batch transform", "ok" if ok else "FAILED", started, detail)
    if not ok:
        raise RehearsalFailed(f"stage {stage}: batch transform answers are wrong: {detail}")


def guarded_update(
    session: Session, blue: LocalEndpoint, new: Stack, stage: str
) -> tuple[Outcome, LocalEndpoint | None]:
    """UpdateEndpoint to ``new``'s endpoint config, as SageMaker runs it with the deployed DeploymentConfig: ``blue``
    serves the old model; a green fleet starts with the new one and takes traffic as the policy shifts it, while the
    deployed rollback alarms watch what both fleets do. Returns the outcome and, when it completed, the green fleet,
    still serving (the caller stops it)."""
    report = session.report
    (endpoint,) = new.of_type("AWS::SageMaker::Endpoint")
    deployment_config = endpoint.properties.get("DeploymentConfig")
    started = report.step(
        f"{stage}: UpdateEndpoint to {endpoint.properties['EndpointConfigName']} "
        f"({smoke.traffic_routing(deployment_config)})"
    )
    alarms = {a.physical_id: a.properties for a in new.of_type("AWS::CloudWatch::Alarm")}
    green = fleet(session, new, stage, "green", routed=True)
    green.start()
    try:
        router = Router(http_sender(f"{blue.url}/invocations"), http_sender(f"{green.url}/invocations"), Metrics())
        outcome = blue_green(
            deployment_config,
            router,
            rollback_alarms={name: alarms[name] for name in smoke.rollback_alarms(deployment_config)},
            minute_of_traffic=_traffic(session, new, endpoint.attributes["EndpointName"], [blue, green]),
        )
    except BaseException:
        green.cleanup()
        raise
    detail = f"{'; '.join(outcome.trail)}; requests to blue {router.sent['blue']}, to green {router.sent['green']}"
    report.status(f"{stage}: blue/green update", "ok" if outcome.completed else "ROLLED BACK", started, detail)
    if not outcome.completed:
        green.cleanup()
        return outcome, None
    return outcome, green


def _traffic(
    session: Session, stack: Stack, endpoint_name: str, fleets: list[LocalEndpoint]
) -> Callable[[Router], None]:
    """One minute of an update: the smoke cases as users' requests, the deployed quality probe's round (its own
    code, on its schedule's input), and both fleets' new log lines through the deployed worker-restart filter."""
    cases = smoke.read_cases(ROOT / smoke.build_parser().get_default("cases"))
    probe = _deployed_probe(session, stack)
    logs = LogMetricFilter(
        session.cloud.admin("logs", stack.account, stack.region),
        contract.endpoint_log_group(endpoint_name),
        stream=f"AllTraffic/update-{uuid.uuid4().hex[:8]}",
        term=contract.WORKER_RESTART_LOG,
    )
    shipped = [len(f.log_lines()) for f in fleets]  # what the fleets logged before the update is not its doing

    def minute(router: Router) -> None:
        for case in cases:
            router.send(json.dumps({"inputs": [case.text]}).encode())
        if probe is not None:
            agreement, event = probe
            value = agreement(router.send, event["Probes"])
            if value is not None:
                router.metrics.put(event["Namespace"], event["MetricName"], router.minute, value)
        new_lines = []
        for index, endpoint in enumerate(fleets):
            lines = endpoint.log_lines()
            new_lines += lines[shipped[index] :]
            shipped[index] = len(lines)
        metric = logs.transformation
        router.metrics.put(metric["metricNamespace"], metric["metricName"], router.minute, float(logs.count(new_lines)))

    return minute


def _deployed_probe(session: Session, stack: Stack) -> tuple[Callable, dict] | None:
    """The quality probe's ``agreement`` from its deployed code asset, and the input its schedule sends it."""
    for rule in stack.of_type("AWS::Events::Rule"):
        for target in rule.properties.get("Targets", []):
            event = json.loads(target.get("Input") or "{}")
            if "Probes" not in event:
                continue
            function = next(f for f in stack.of_type("AWS::Lambda::Function") if f.attributes["Arn"] == target["Arn"])
            code = unpack_code(session.cloud, stack, function, session.work / "functions" / uuid.uuid4().hex[:8])
            spec = importlib.util.spec_from_file_location(f"quality_probe_{code.name}", code / "index.py")
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module.agreement, event
    return None


def smoke_step_verdict(session: Session, stack: Stack, outcome: Outcome, served_config: str) -> list[str]:
    """The delivery pipeline's smoke step after an update: what DescribeEndpoint and DescribeAlarmHistory answer its
    role (each request decided by the policy engine as that role), judged by the step's own check."""
    (endpoint,) = stack.of_type("AWS::SageMaker::Endpoint")
    role, expected = stack.outputs["SmokeTestRoleArn"], stack.outputs["EndpointConfigName"]
    deployment_config = endpoint.properties.get("DeploymentConfig") or {}
    alarm_arns = {a.physical_id: a.attributes["Arn"] for a in stack.of_type("AWS::CloudWatch::Alarm")}
    session.cloud.directory.check(
        Request(role, "sagemaker:DescribeEndpoint", endpoint.attributes["Arn"], stack.account)
    )
    for alarm in smoke.rollback_alarms(deployment_config):
        session.cloud.directory.check(
            Request(role, "cloudwatch:DescribeAlarmHistory", alarm_arns[alarm], stack.account)
        )
    described = {
        "EndpointName": endpoint.attributes["EndpointName"],
        "EndpointConfigName": served_config,
        "EndpointStatus": smoke.SERVING,
        "LastModifiedTime": datetime.now(UTC),
        "LastDeploymentConfig": deployment_config,
    }
    fired = {item["AlarmName"]: [item] for item in outcome.history}
    return smoke.served_config_problems(described, expected, lambda alarm, since: fired.get(alarm, []))
