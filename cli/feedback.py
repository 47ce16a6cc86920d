"""`textclf feedback upload --stage S FILE`: the true labels of answers a realtime endpoint captured, given later.

Each row names a captured answer by the InferenceId its caller passed to InvokeEndpoint (or by the captured record's
eventId) and gives its true label. The file is checked whole before anything is uploaded, as `textclf data upload`
checks a dataset: every error names the file, the row and the fix. The rows go to the stage's ``feedback/`` prefix as
one JSON Lines file, under the stage's data key; once a day the stage's late-label function judges the captured
answers against them (docs/monitoring.md, "Quality from late labels").
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from datetime import UTC, datetime
from pathlib import Path

from cli import pipeline_ops
from cli.dataset import Finding, mixed_labels, named, read_rows
from cli.errors import one_stage
from stacks.config import ConfigError
from stacks.monitor_settings import FEEDBACK_ID, FEEDBACK_LABEL, feedback_body
from training import data_files


def read_feedback(
    path: Path, *, id_column: str, label_column: str, labels: list[str] | None
) -> tuple[dict[str, str], list[Finding]]:
    """id -> label for every usable row, and every problem of the file. Labels are read as `textclf data validate`
    reads them: with ``labels``, by name or by integer id, and stored as the name, the label the endpoint answers
    with (the late-label function compares the two as they are); never ids and names mixed."""
    findings: list[Finding] = []
    rows: dict[str, str] = {}
    first_line: dict[str, int] = {}
    # A row's first field is the answer's id here, not a text.
    usable = read_rows(path, id_column, label_column, findings, options="--id-column/--label-column")
    mixed = mixed_labels(path, usable, labels)
    if mixed is not None:
        findings.append(mixed)
    for row in usable:
        answer_id = row.text.strip()
        if answer_id in first_line:
            findings.append(
                Finding(
                    f"{path}:{row.line}",
                    f"{id_column} {answer_id!r} is labelled again (first on line {first_line[answer_id]})",
                    "keep one row per answer",
                )
            )
            continue
        found = data_files.label_id(row.label, labels) if labels is not None else None
        if labels is not None and found is None:
            findings.append(
                Finding(
                    f"{path}:{row.line}",
                    f"label {row.label!r} is none of {', '.join(labels)}, nor their ids 0..{len(labels) - 1}",
                    "use the model's labels",
                )
            )
            continue
        first_line[answer_id] = row.line
        rows[answer_id] = named(row.label, labels)
    if not rows and not findings:
        findings.append(Finding(str(path), "no rows", f"put one row per answer: {id_column},{label_column}"))
    return rows, findings


def upload(s3, feedback_uri: str, key_arn: str, rows: dict[str, str]) -> str:
    """One JSON Lines object, named by the upload time and its content, so a later file overrides an earlier one."""
    bucket, _, prefix = feedback_uri.removeprefix("s3://").partition("/")
    body = feedback_body(rows)
    key = f"{prefix}{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{hashlib.sha256(body).hexdigest()[:12]}.jsonl"
    s3.put_object(Bucket=bucket, Key=key, Body=body, ServerSideEncryption="aws:kms", SSEKMSKeyId=key_arn)
    return f"s3://{bucket}/{key}"


def run_upload(args: argparse.Namespace) -> int:
    import boto3

    path = Path(args.file)
    if not path.is_file():
        raise ConfigError(f"FILE: {path} is not a file. Fix: give the path of a CSV or JSON Lines file.")
    labels = [label.strip() for label in args.labels.split(",") if label.strip()] if args.labels else None
    rows, findings = read_feedback(path, id_column=args.id_column, label_column=args.label_column, labels=labels)
    for finding in findings:
        print(finding, file=sys.stderr)
    if findings:
        print(f"{len(findings)} problem(s) in {path}. Nothing uploaded.", file=sys.stderr)
        return 2
    config = pipeline_ops.stage_config(args.stage)
    outputs = pipeline_ops.stage_outputs(config)
    s3 = boto3.Session(region_name=config.region).client("s3")
    uri = upload(s3, outputs["FeedbackUri"], outputs["DataKeyArn"], rows)
    print(f"{len(rows)} labels -> {uri}; the stage judges its captured answers against them once a day")
    return 0


def add_parser(commands) -> None:
    feedback = commands.add_parser("feedback", help="give the true labels of captured answers, later")
    actions = feedback.add_subparsers(dest="action", required=True, metavar="ACTION")
    upload_ = actions.add_parser("upload", help="check a labels file, then upload it to a stage", description=__doc__)
    upload_.add_argument("file", metavar="FILE", help="CSV or JSON Lines: one row per answer, its id and true label")
    upload_.add_argument("--stage", type=one_stage, required=True, help="dev, staging or prod")
    upload_.add_argument(
        "--id-column",
        default=FEEDBACK_ID,
        help=f"the answer's InferenceId (or captured eventId) field (default: {FEEDBACK_ID})",
    )
    upload_.add_argument("--label-column", default=FEEDBACK_LABEL, help=f"the true label (default: {FEEDBACK_LABEL})")
    upload_.add_argument("--labels", default=None, help="the model's label names, e.g. negative,positive, to check")
    upload_.set_defaults(handler=run_upload)
