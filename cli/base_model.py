"""`textclf base-model upload`: put a pretrained model where the pipelines' ``model`` channel reads it.

Jobs run network-isolated, so the base model (and a teacher's base) comes from the stage's bucket:
``base-models/<name>/``. The command takes a local directory, or a Hugging Face Hub id that it downloads
on this machine. It checks that the model loads for sequence classification with this environment's
transformers, which is the training container's version (requirements-ml.txt), before anything is
uploaded.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from cli import pipeline_ops
from cli.errors import Failure, one_stage
from stacks.config import ConfigError

# A folder name under base-models/: one path segment, as the pipelines' BaseModelUri parameters name it.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# What a Hugging Face Hub id looks like: name, or owner/name.
_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


def folder_name(value: str) -> str:
    if not _NAME_RE.match(value) or value in (".", ".."):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a folder name (letters, digits, '.', '_', '-'; no '/'), e.g. distilbert-base-uncased"
        )
    return value


def check_loads(model_dir: Path) -> str:
    """The model's architecture, or a ConfigError naming what failed and the fix."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    try:
        AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2)
    except (OSError, ValueError, KeyError) as error:
        raise ConfigError(
            f"model: {model_dir} does not load for sequence classification ({str(error).splitlines()[0][:200]}). "
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
    if not _HUB_ID_RE.match(source):
        raise ConfigError(
            f"model: {source} is no directory, and no Hugging Face Hub id. Fix: check the path, or give an id "
            "such as distilbert-base-uncased."
        )
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(source)), source.rsplit("/", 1)[-1]
    except Exception as error:  # noqa: BLE001 - huggingface_hub's errors (offline, not found, gated) all mean this
        reason = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise Failure(
            f"model: cannot download {source} from the Hugging Face Hub ({reason}). Fix: check the id and the "
            "network, or download it elsewhere and pass its directory."
        ) from error


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
    upload_command.add_argument("--stage", type=one_stage, required=True, help="dev, staging or prod")
    upload_command.add_argument(
        "--name",
        type=folder_name,
        default=None,
        help="folder under base-models/ (default: the directory's or the id's last part)",
    )
    upload_command.set_defaults(handler=run_upload)
