"""`textclf pipeline ...`: start a training run, list registered models with their metrics, approve or reject.

Names come from the stage config (cdk.json), so no CloudFormation lookup is needed; credentials
and the account come from the usual AWS environment. Uploads (`textclf data`, `textclf base-model`)
also need generated names, the buckets and the key: ``stage_outputs`` reads them from the stage's stack.
"""

from __future__ import annotations

import argparse
import json

from cli.errors import did_you_mean, invalid_json, one_stage
from stacks.config import ConfigError, StageConfig, load_stages
from stacks.instances import storage_mismatch
from stacks.pipeline_definition import parameter_names
from stacks.project import ROOT
from training import contract, model_registry


def stage_config(stage: str) -> StageConfig:
    """The stage's settings from cdk.json, as synth reads them."""
    path = ROOT / "cdk.json"
    try:
        stages = json.loads(path.read_text())["context"]["stages"]
    except json.JSONDecodeError as error:
        raise ConfigError(
            f"{path.name}: {invalid_json(error)}. Fix: correct it; `textclf synth` reports the same."
        ) from None
    except (KeyError, TypeError):
        raise ConfigError(f"{path.name}: no context.stages. Fix: restore it from the repository.") from None
    (config,) = load_stages(stages, stage)
    return config


def stage_outputs(config: StageConfig) -> dict[str, str]:
    """The deployed stage stack's outputs (DatasetUri, BaseModelUri, DataKeyArn, …), by its CDK stack name."""
    import boto3

    cloudformation = boto3.Session(region_name=config.region).client("cloudformation")
    stack_name = config.stack_name
    try:
        (stack,) = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except cloudformation.exceptions.ClientError as error:
        raise ConfigError(f"stage: stack {stack_name} not found ({error}). Fix: deploy the stage first.") from error
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def clients(config: StageConfig):
    import boto3

    session = boto3.Session(region_name=config.region)
    return session.client("sagemaker"), session.client("s3")


def start(args: argparse.Namespace) -> int:
    config = stage_config(args.stage)
    distillation = args.pipeline == "distillation" or bool(args.teacher_package)
    pairs = _parse_params(args.param)
    _check_names(pairs, distillation=distillation)
    _check_training_instance(config, dict(pairs).get("TrainingInstanceType"))
    sagemaker, _ = clients(config)
    pipeline = config.distillation_pipeline_name if distillation else config.pipeline_name
    if args.teacher_package:
        # Resolved here, at start: synth makes no lookups, and the pipeline records which package taught.
        arn, url = teacher_model_data(sagemaker, config, args.teacher_package)
        pairs += [("TeacherModelDataUrl", url), ("TeacherPackageArn", arn)]
        print(f"teacher: {arn} ({url})")
    response = sagemaker.start_pipeline_execution(
        PipelineName=pipeline,
        PipelineParameters=[{"Name": name, "Value": value} for name, value in pairs],
        PipelineExecutionDescription=args.description or "started with textclf pipeline start",
    )
    print(f"started {response['PipelineExecutionArn']}")
    return 0


def teacher_model_data(sagemaker, config: StageConfig, package: str) -> tuple[str, str]:
    """An approved package's ARN and model.tar.gz URL, to replace the distillation pipeline's TrainTeacher."""
    arn = _package_arn(sagemaker, config, package)
    described, container = model_registry.serving_container(sagemaker, arn)
    status = described.get("ModelApprovalStatus")
    if status != "Approved":
        raise ConfigError(
            f"--teacher-package: {arn} is {status}, and only an approved package may teach. "
            "Fix: approve it (`textclf pipeline approve`) or pick an approved version "
            "(`textclf pipeline packages`)."
        )
    return arn, container["ModelDataUrl"]


def packages(args: argparse.Namespace) -> int:
    config = stage_config(args.stage)
    sagemaker, s3 = clients(config)
    print(f"model packages in {config.model_package_group_name} ({config.region}):")
    print(package_table(sagemaker, s3, config.model_package_group_name))
    return 0


def package_table(sagemaker, s3, group: str, *, limit: int | None = None) -> str:
    """The group's packages, newest first, with accuracy and macro F1 from their evaluation.json, as Markdown."""
    lines = ["| version | status | accuracy | macro F1 | created | ARN |", "|---:|---|---:|---:|---|---|"]
    for summary in model_registry.packages(sagemaker, group)[:limit]:
        metrics = _metrics(sagemaker, s3, summary["ModelPackageArn"])
        row = (
            summary["ModelPackageVersion"],
            summary["ModelApprovalStatus"],
            _fmt(metrics, contract.ACCURACY_PATH),
            _fmt(metrics, contract.MACRO_F1_PATH),
            summary["CreationTime"].strftime("%Y-%m-%d %H:%M"),
            summary["ModelPackageArn"],
        )
        lines.append("| " + " | ".join(str(cell) for cell in row) + " |")
    return "\n".join(lines)


def approve(args: argparse.Namespace) -> int:
    return _decide(args, "Approved")


def reject(args: argparse.Namespace) -> int:
    return _decide(args, "Rejected")


def _decide(args: argparse.Namespace, status: str) -> int:
    config = stage_config(args.stage)
    sagemaker, _ = clients(config)
    arn = _package_arn(sagemaker, config, args.package)
    sagemaker.update_model_package(
        ModelPackageArn=arn,
        ModelApprovalStatus=status,
        ApprovalDescription=args.reason or f"{status.lower()} with textclf",
    )
    print(f"{status.lower()}: {arn}")
    return 0


def _package_arn(sagemaker, config: StageConfig, package: str) -> str:
    """A full ARN, or a version number in this stage's group."""
    if package.startswith("arn:"):
        if f":model-package/{config.model_package_group_name}/" not in package:
            raise ConfigError(
                f"package: {package} is not in this stage's group "
                f"{config.model_package_group_name}. Fix: pass --stage for its stage."
            )
        return package
    if not package.isdigit():
        raise ConfigError(f"package: {package!r} is neither an ARN nor a version number. Fix: e.g. 3.")
    for summary in model_registry.packages(sagemaker, config.model_package_group_name):
        if str(summary["ModelPackageVersion"]) == package:
            return summary["ModelPackageArn"]
    raise ConfigError(
        f"package: no version {package} in {config.model_package_group_name}. Fix: see `textclf pipeline packages`."
    )


def _metrics(sagemaker, s3, arn: str) -> dict:
    # The evaluation step reads the same file to set the regression baseline.
    try:
        return model_registry.package_metrics(sagemaker, s3, arn)
    except s3.exceptions.NoSuchKey:
        return {}


def _fmt(metrics: dict, path: tuple[str, ...]) -> str:
    try:
        return f"{float(contract.read_path(metrics, path)):.4f}"
    except (KeyError, TypeError, ValueError):
        return "-"


def _check_training_instance(config: StageConfig, requested: str | None) -> None:
    """The pipeline's first step refuses it too (stacks.pipeline_definition.instance_guard); here it costs no call."""
    problem = requested and storage_mismatch(config.training_instance_type, requested)
    if problem:
        raise ConfigError(
            f"--param TrainingInstanceType: {problem}. Fix: pick a type with the storage of "
            f"{config.training_instance_type}, or set training_instance_type in cdk.json and deploy the stage."
        )


def _check_names(pairs: list[tuple[str, str]], *, distillation: bool) -> None:
    """Offline, against the names the stacks declare: before, a typo met the missing credentials first (issue 47)."""
    names = parameter_names(distillation=distillation)
    for name, _ in pairs:
        if name not in names:
            pipeline = "distillation" if distillation else "training"
            raise ConfigError(
                f"--param {name}: the {pipeline} pipeline has no such parameter{did_you_mean(name, names)}. "
                f"Fix: use one of {', '.join(sorted(names))}."
            )


def _parse_params(pairs: list[str] | None) -> list[tuple[str, str]]:
    parsed = []
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ConfigError(f"--param: {pair!r} is not NAME=VALUE. Fix: e.g. --param Epochs=2.")
        parsed.append((name, value))
    return parsed


def add_parser(commands) -> None:
    pipeline = commands.add_parser(
        "pipeline",
        help="start the training pipeline, list, approve or reject models",
        description=(__doc__ or "").partition("\n")[0],
    )
    actions = pipeline.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser("start", help="start an execution of the stage's training pipeline")
    run.add_argument(
        "--pipeline",
        choices=("training", "distillation"),
        default="training",
        help="the fine-tune pipeline, or distillation (teacher, then student)",
    )
    run.add_argument(
        "--teacher-package",
        default=None,
        metavar="VERSION_OR_ARN",
        help="distill from this approved package of the stage's group instead of training a teacher "
        "(implies --pipeline distillation)",
    )
    run.add_argument(
        "--param",
        action="append",
        metavar="NAME=VALUE",
        help="override a pipeline parameter, e.g. Epochs=2 or Temperature=3 (repeatable)",
    )
    run.add_argument("--description", default=None, help="a note stored with the execution")
    run.set_defaults(handler=start)
    listing = actions.add_parser("packages", help="list the stage's model packages with accuracy and macro F1")
    listing.set_defaults(handler=packages)
    for name, function in (("approve", approve), ("reject", reject)):
        action = actions.add_parser(name, help=f"{name} a model package (ARN or version number)")
        action.add_argument("package", help="model package ARN, or its version number in the stage's group")
        action.add_argument("--reason", default=None, help="stored as the approval description")
        action.set_defaults(handler=function)
    for action in actions.choices.values():
        action.add_argument("--stage", type=one_stage, default="dev", help="dev, staging or prod (default: dev)")
