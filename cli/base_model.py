"""`textclf base-model upload`: put a pretrained model where the pipelines' ``model`` channel reads it.

Jobs run network-isolated, so the base model (and a teacher's base) comes from the stage's bucket:
``base-models/<name>/``. The command takes a local directory, or a Hugging Face Hub id that it downloads
on this machine. It checks that the model loads for sequence classification with this environment's
transformers, which is the training container's version (requirements-ml.txt), before anything is
uploaded.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cli import pipeline_ops
from cli.pipeline_ops import guarded
from stacks.config import ConfigError


def check_loads(model_dir: Path) -> str:
    """The model's architecture, or a ConfigError naming what failed and the fix."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    try:
        AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2)
    except (OSError, ValueError, KeyError) as error:
        raise ConfigError(
            f"model: {model_dir} does not load for sequence classification ({str(error).splitlines()[0]}). "
            "Fix: give a directory save_pretrained wrote (config.json, weights, tokenizer files)."
        ) from error
    return type(model).__name__


def resolve(source: str) -> tuple[Path, str]:
    """(local directory, name under base-models/): a directory as is, a Hub id downloaded here."""
    path = Path(source)
    if path.is_dir():
        return path, path.name
    if path.exists():
        raise ConfigError(f"model: {source} is a file. Fix: give the model's directory or a Hub id.")
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(source)), source.rsplit("/", 1)[-1]


def upload(s3, base_model_uri: str, key_arn: str, model_dir: Path, name: str) -> list[str]:
    bucket, _, prefix = base_model_uri.removeprefix("s3://").partition("/")
    keys = []
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file() and ".cache" not in p.parts):
        key = f"{prefix}{name}/{path.relative_to(model_dir).as_posix()}"
        s3.put_object(
            Bucket=bucket, Key=key, Body=path.read_bytes(), ServerSideEncryption="aws:kms", SSEKMSKeyId=key_arn
        )
        keys.append(key)
    return keys


def run_upload(args: argparse.Namespace) -> int:
    import boto3

    model_dir, name = resolve(args.model)
    name = args.name or name
    architecture = check_loads(model_dir)
    config = pipeline_ops.stage_config(args.stage)
    outputs = pipeline_ops.stage_outputs(config)
    s3 = boto3.Session(region_name=config.region).client("s3")
    keys = upload(s3, outputs["BaseModelUri"], outputs["DataKeyArn"], model_dir, name)
    uri = f"{outputs['BaseModelUri']}{name}/"
    print(f"{architecture}: {len(keys)} files to {uri}")
    if name == config.base_model:
        print("It is the stage's base_model: the pipelines' BaseModelUri default reads it.")
    elif name == config.teacher_base_model:
        print("It is the stage's teacher_base_model: the distillation pipeline's TeacherBaseModelUri reads it.")
    else:
        print(f"Use it with: textclf pipeline start --stage {args.stage} --param BaseModelUri={uri}")
    return 0


def add_parser(commands) -> None:
    base = commands.add_parser("base-model", help="upload a pretrained model for the pipelines' model channel")
    actions = base.add_subparsers(dest="action", required=True, metavar="ACTION")
    upload_command = actions.add_parser(
        "upload", help="check the model loads, then upload it to base-models/<name>/", description=__doc__
    )
    upload_command.add_argument("model", help="a local model directory, or a Hugging Face Hub id to download here")
    upload_command.add_argument("--stage", required=True, help="dev, staging or prod")
    upload_command.add_argument(
        "--name", default=None, help="folder under base-models/ (default: the directory's or the id's last part)"
    )
    upload_command.set_defaults(handler=guarded(run_upload, "base-model upload"))
