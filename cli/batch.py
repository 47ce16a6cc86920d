"""`textclf batch --stage S --input s3://… --output s3://…`: score files with the served model in a batch transform job.

Input files hold one text per line: JSON Lines (``{"inputs": "text"}`` per line) or CSV (one text per line).
Each output file (``<input name>.out``) holds one answer per input line, in order. The job runs as the stage's
batch role, which may read only the stage's batch input prefix and write only its batch output prefix
(the stack's BatchInputUri and BatchOutputUri outputs).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import urlparse

from cli import pipeline_ops
from cli.errors import one_stage, positive_int
from stacks.batch_request import transform_arguments
from stacks.config import ConfigError
from training import contract

CONTENT_TYPES = {".jsonl": contract.JSONLINES, ".csv": contract.CSV}
FORMATS = {"jsonl": contract.JSONLINES, "csv": contract.CSV}


@dataclass(frozen=True)
class BatchLocations:
    model_name: str
    input_prefix: str
    output_prefix: str
    key_arn: str


def locations(outputs: dict[str, str], stage: str) -> BatchLocations:
    if "BatchModelName" not in outputs:
        raise ConfigError(
            f"stage: {stage} serves no model yet, so there is nothing to score with. "
            "Fix: approve a package and deploy it (docs/day1.md, steps 7-8)."
        )
    return BatchLocations(
        outputs["BatchModelName"], outputs["BatchInputUri"], outputs["BatchOutputUri"], outputs["DataKeyArn"]
    )


def check_under(flag: str, uri: str, prefix: str) -> None:
    if not uri.startswith(prefix):
        raise ConfigError(
            f"{flag}: {uri} is outside the stage's batch prefix {prefix}, where the batch role may "
            f"{'read' if flag == '--input' else 'write'}. Fix: use a location under it"
            + (f", e.g. `aws s3 cp texts.jsonl {prefix}texts.jsonl`." if flag == "--input" else ".")
        )


def content_type(input_uri: str, chosen: str | None) -> str:
    if chosen:
        return FORMATS[chosen]
    suffix = PurePosixPath(urlparse(input_uri).path).suffix
    if suffix not in CONTENT_TYPES:
        raise ConfigError(
            f"--input: cannot tell the format of {input_uri} (JSON Lines ends in .jsonl, CSV in .csv). "
            "Fix: pass --format jsonl or --format csv."
        )
    return CONTENT_TYPES[suffix]


def input_objects(s3, uri: str) -> list[str]:
    """The keys the job will read: the object itself, or every object under the prefix."""
    location = urlparse(uri)
    page = s3.list_objects_v2(Bucket=location.netloc, Prefix=location.path.lstrip("/"), MaxKeys=1000)
    keys = [item["Key"] for item in page.get("Contents", []) if not item["Key"].endswith("/")]
    if not keys:
        raise ConfigError(f"--input: nothing at {uri}. Fix: upload the file first, or check the path.")
    return keys


def transform_request(
    stage: str, where: BatchLocations, args: argparse.Namespace, media_type: str, job_name: str
) -> dict:
    """CreateTransformJob's request: stacks.batch_request's arguments, which the pipeline's batch step and the
    rehearsal use too, with the job's name."""
    arguments = transform_arguments(
        model_name=where.model_name,
        input_uri=args.input,
        output_uri=args.output,
        content_type=media_type,
        key_arn=where.key_arn,
        instance_type=args.instance_type,
        instance_count=args.instance_count,
        stage=stage,
    )
    return {"TransformJobName": job_name, **arguments}


def run(args: argparse.Namespace) -> int:
    import boto3

    config = pipeline_ops.stage_config(args.stage)
    where = locations(pipeline_ops.stage_outputs(config), config.name)
    check_under("--input", args.input, where.input_prefix)
    check_under("--output", args.output, where.output_prefix)
    media_type = content_type(args.input, args.format)
    session = boto3.Session(region_name=config.region)
    keys = input_objects(session.client("s3"), args.input)
    job_name = f"{config.name_prefix}-{config.name}-batch-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    sagemaker = session.client("sagemaker")
    sagemaker.create_transform_job(**transform_request(config.name, where, args, media_type, job_name))
    print(f"started transform job {job_name}: {len(keys)} file(s), {media_type}, {args.instance_type}")
    print(f"answers: {args.output.rstrip('/')}/<input file name>.out, one line per input line")
    if args.wait:
        return wait(sagemaker, job_name)
    return 0


def wait(sagemaker, job_name: str) -> int:
    sagemaker.get_waiter("transform_job_completed_or_stopped").wait(
        TransformJobName=job_name, WaiterConfig={"Delay": 30, "MaxAttempts": 240}
    )
    job = sagemaker.describe_transform_job(TransformJobName=job_name)
    print(f"{job_name}: {job['TransformJobStatus']} {job.get('FailureReason', '')}".rstrip())
    return 0 if job["TransformJobStatus"] == "Completed" else 1


def add_parser(commands) -> None:
    batch = commands.add_parser(
        "batch",
        help="score files in S3 with the stage's served model in a batch transform job",
        description=(__doc__ or "").strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    batch.add_argument("--stage", type=one_stage, default="dev", help="dev (default), staging or prod")
    batch.add_argument("--input", required=True, help="an object or prefix under the stage's BatchInputUri")
    batch.add_argument("--output", required=True, help="a prefix under the stage's BatchOutputUri")
    batch.add_argument("--format", choices=sorted(FORMATS), default=None, help="jsonl or csv (default: by suffix)")
    batch.add_argument(
        "--instance-type", default="ml.c6i.xlarge", help="transform instance type (default: ml.c6i.xlarge)"
    )
    batch.add_argument("--instance-count", type=positive_int, default=1, help="instances; files are spread over them")
    batch.add_argument("--wait", action="store_true", help="wait for the job and exit 1 unless it completed")
    batch.set_defaults(handler=run)
