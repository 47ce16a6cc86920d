"""A stage's model served as SageMaker would serve it: the endpoint's model on the local endpoint, read as the model
role, smoke-tested as the delivery pipeline does; then `textclf batch`'s transform job of the batch model."""

from __future__ import annotations

import json

from delivery_steps import smoke
from rehearsal.cloudformation.model import Stack
from rehearsal.deployed import model_container, model_named, served_model
from rehearsal.iam import AccessDenied
from rehearsal.pipeline_run import batch_lines, batch_rows
from rehearsal.probes import check_alarm_actions, check_worker_alarm
from rehearsal.report import RehearsalFailed
from rehearsal.sagemaker.channels import split_uri
from rehearsal.sagemaker.local_endpoint import LocalEndpoint, free_port
from rehearsal.sagemaker.transform import TransformFailed, run_on_local_endpoint
from rehearsal.session import Session
from stacks.batch_request import transform_arguments
from stacks.project import ROOT
from training import contract

BATCH_MIN_ACCURACY = 0.6


def serve_and_smoke(session: Session, stack: Stack, stage: str) -> None:
    report = session.report
    started = report.step(f"Serve stage {stage}'s model on the local endpoint and smoke-test it")
    model = served_model(stack)
    container, data_url = model_container(session.cloud, stack, model)
    folder = session.work / "serving" / stage
    folder.mkdir(parents=True, exist_ok=True)
    s3 = session.cloud.as_role("s3", model.properties["ExecutionRoleArn"], session.region)
    bucket, key = split_uri(data_url)
    try:
        s3.download_file(bucket, key, str(folder / "model.tar.gz"))
    except Exception as error:
        report.status("model role reads the model data", "FAILED", started, str(error))
        raise RehearsalFailed(f"stage {stage}: the model execution role cannot read {data_url}: {error}") from error
    report.status("model role reads the model data", "ok", started, data_url)
    env = {**container.get("Environment", {})}
    with LocalEndpoint(folder / "model.tar.gz", port=free_port(), workers=1, env=env) as endpoint:
        report.status("local endpoint up", "ok", started, f"{endpoint.url} env={json.dumps(env)}")
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
        check_worker_alarm(session.cloud, report, stack, endpoint)
    check_alarm_actions(session.cloud, stack, report)
    batch_transform(session, stack, stage)


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
