"""Training, processing and registration steps, run as SageMaker runs them, on this machine.

Each job gets its own ``/opt/ml``: the process runs in a private mount namespace (``unshare``) with
the job's folder bound over ``/opt/ml``, so container code sees exactly the paths it sees on
SageMaker and ``ContainerEntrypoint`` runs verbatim. A job with ``EnableNetworkIsolation`` also
gets a network namespace of its own (loopback only) and no credentials: any AWS call from inside
fails as it does on AWS. Otherwise the job gets its role's credentials, and its AWS calls go
through the IAM-enforcing gateway.

SageMaker's own work on the job's behalf is done here with the job's role, through the same
gateway: listing and downloading input channels, syncing checkpoints, uploading model.tar.gz and
processing outputs. Starting the job is checked for the pipeline role (Create*Job with its
condition keys, iam:PassRole), and pulling the image for the job role.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from botocore.exceptions import BotoCoreError, ClientError

from rehearsal.cloud import Cloud
from rehearsal.iam import AccessDenied, Directory, Request, account_of
from rehearsal.pipeline import Execution, StepError
from rehearsal.service_rules import validate_request
from training.contract import read_path

OPT_ML = Path("/opt/ml")
TRAIN_ENTRY = "from sagemaker_training.cli.train import main; main()"
SAGEMAKER = "sagemaker.amazonaws.com"


@dataclass
class Interruption:
    """A spot interruption: SIGTERM once the job logs ``train: step=<at_step>``, then a restart."""

    at_step: int
    happened: list[str] = field(default_factory=list)


@dataclass
class JobContext:
    cloud: Cloud
    account: str
    region: str
    pipeline_role: str
    workdir: Path
    log: Callable[[str], None] = print
    interruption: Interruption | None = None
    python: str = sys.executable
    # Invokes a deployed function by ARN with an event and returns its answer (custom_resources.call).
    call_function: Callable[[str, dict], dict] | None = None


# ---- S3 on a role's behalf ---------------------------------------------------------------------------
def split_uri(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3":
        raise StepError("SageMaker.VALIDATION", f"{uri}: expected an s3:// URI")
    return parsed.netloc, parsed.path.lstrip("/")


def download_prefix(s3, uri: str, target: Path) -> int:
    """S3Prefix semantics: every object under the prefix, at its path below the prefix's folder."""
    bucket, prefix = split_uri(uri)
    folder = prefix[: prefix.rfind("/") + 1]
    target.mkdir(parents=True, exist_ok=True)
    count = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"].endswith("/"):
                continue
            destination = target / item["Key"][len(folder) :]
            destination.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, item["Key"], str(destination))
            count += 1
    return count


def upload_folder(s3, folder: Path, uri: str) -> int:
    bucket, prefix = split_uri(uri)
    prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
    count = 0
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            s3.upload_file(str(path), bucket, prefix + path.relative_to(folder).as_posix())
            count += 1
    return count


def _as_step_error(error: Exception) -> StepError:
    if isinstance(error, AccessDenied) or "AccessDenied" in str(error):
        return StepError("SageMaker.ACCESS_DENIED", str(error))
    return StepError("SageMaker.CLIENT_ERROR", str(error))


# ---- what SageMaker checks before a job starts -------------------------------------------------------
def check_start(context: JobContext, action: str, job_name: str, arguments: dict, resources: dict) -> None:
    """The pipeline role's Create*Job (with its condition keys) and iam:PassRole of the job role."""
    directory = context.cloud.directory
    # CreateTrainingJob has these flags at the top level, CreateProcessingJob in NetworkConfig.
    network = arguments.get("NetworkConfig") or arguments
    # The condition keys SageMaker sets on Create*Job (the service authorization reference, via iam-data).
    keys = {
        "sagemaker:VolumeKmsKeyArn": resources.get("VolumeKmsKeyId"),
        "sagemaker:OutputKmsKeyArn": (
            arguments.get("OutputDataConfig") or arguments.get("ProcessingOutputConfig") or {}
        ).get("KmsKeyId"),
        "sagemaker:MaxRuntimeInSeconds": str((arguments.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds", ""))
        or None,
        # A list: the key holds every instance type of the request (ArrayOfString).
        "sagemaker:InstanceTypes": [resources["InstanceType"]] if resources.get("InstanceType") else None,
        "sagemaker:NetworkIsolation": _bool(network.get("EnableNetworkIsolation")),
        "sagemaker:InterContainerTrafficEncryption": _bool(network.get("EnableInterContainerTrafficEncryption")),
        **_request_tags(arguments),
    }
    kind = "training-job" if action.endswith("TrainingJob") else "processing-job"
    directory.check(
        Request(
            context.pipeline_role,
            action,
            f"arn:aws:sagemaker:{context.region}:{context.account}:{kind}/{job_name.lower()}",
            context=_present(keys),
        )
    )
    directory.check(
        Request(
            context.pipeline_role, "iam:PassRole", arguments["RoleArn"], context=(("iam:PassedToService", SAGEMAKER),)
        )
    )
    check_volume_grant(context, resources)


def check_volume_grant(context: JobContext, resources: dict) -> None:
    """SageMaker creates a grant on the volume's key for the caller (the pipeline role)."""
    if resources.get("VolumeKmsKeyId"):
        context.cloud.directory.check(
            Request(
                context.pipeline_role,
                "kms:CreateGrant",
                resources["VolumeKmsKeyId"],
                context=(("kms:GrantIsForAWSResource", "true"),),
            )
        )


def check_image_pull(directory: Directory, role: str, image: str, *, only_sources: set[str] | None = None) -> None:
    """What SageMaker does with the job's (or model's) role before the container starts: pull the image from ECR.

    ``only_sources``: the role's policies that exist at that moment of a deployment (``Directory.check``).
    """
    registry, _, repository_and_tag = image.partition("/")
    owner, region = registry.split(".")[0], registry.split(".")[3]
    repository = repository_and_tag.split(":")[0].split("@")[0]
    arn = f"arn:aws:ecr:{region}:{owner}:repository/{repository}"
    directory.check(Request(role, "ecr:GetAuthorizationToken", "*"), only_sources=only_sources)
    for action in ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"):
        directory.check(Request(role, action, arn, owner), only_sources=only_sources)


def check_log_delivery(
    directory: Directory,
    role: str,
    region: str,
    log_group: str,
    stream: str,
    *,
    only_sources: set[str] | None = None,
) -> None:
    """What SageMaker does with the role as the container starts: open a log stream in ``log_group`` (of the
    role's account, in ``region``) and write. Both are authorized on the stream's ARN, which the
    ``log-group:NAME:*`` grants cover.
    """
    arn = f"arn:aws:logs:{region}:{account_of(role)}:log-group:{log_group}:log-stream:{stream}"
    for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
        directory.check(Request(role, action, arn), only_sources=only_sources)


def _bool(value) -> str | None:
    return None if value is None else str(bool(value)).lower()


# ---- containers -----------------------------------------------------------------------------------
def container_command(job_root: Path, command: list[str], *, isolated: bool) -> list[str]:
    """``command`` inside a private mount namespace with ``job_root`` as /opt/ml (and no network if isolated).

    As root the namespace is the machine's; otherwise a user namespace maps the caller to root in it,
    and /opt is a private tmpfs when /opt/ml cannot be created.
    """
    hosts = job_root.parent / f"{job_root.name}.hosts"
    hosts.write_text("127.0.0.1 localhost algo-1\n::1 localhost\n")
    script = (
        "{ mkdir -p /opt/ml 2>/dev/null || { mount -t tmpfs none /opt && mkdir -p /opt/ml; }; } && "
        + ("ip link set lo up && " if isolated else "")
        + f'mount --bind {job_root} {OPT_ML} && mount --bind {hosts} /etc/hosts && exec "$@"'
    )
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    return [
        "unshare",
        *user,
        "--mount",
        "--propagation",
        "private",
        *(["--net"] if isolated else []),
        "--",
        "/bin/sh",
        "-c",
        script,
        "container",
        *command,
    ]


def namespaces_available() -> bool:
    """Whether this machine lets the rehearsal give a job its own /opt/ml and network (not in unprivileged Docker)."""
    import shutil

    if shutil.which("unshare") is None:
        return False
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    result = subprocess.run(["unshare", *user, "--mount", "--net", "--", "true"], capture_output=True)
    return result.returncode == 0


def container_env(context: JobContext, environment: dict, role: str | None) -> dict[str, str]:
    """The container's environment: the step's Environment, plus credentials unless isolated (role None)."""
    base = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ}
    base["PATH"] = f"{Path(context.python).parent}:{base.get('PATH', '/usr/bin:/bin')}"
    # SageMaker sets the region in every job container, isolated or not.
    base.update(
        {
            "PYTHONUNBUFFERED": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "SM_NUM_GPUS": "0",
            "AWS_REGION": context.region,
            "AWS_DEFAULT_REGION": context.region,
        }
    )
    if role is not None:
        base.update(context.cloud.env_for(role, context.region))
    return {**base, **{k: str(v) for k, v in environment.items()}}


def run_container(
    context: JobContext,
    job_root: Path,
    command: list[str],
    env: dict,
    *,
    isolated: bool,
    log_file: Path,
    watch: Callable[[str, subprocess.Popen], None] | None = None,
) -> int:
    process = subprocess.Popen(
        container_command(job_root, command, isolated=isolated),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None, "stdout=PIPE"
    with open(log_file, "a") as log:
        for line in process.stdout:
            log.write(line)
            if line.startswith(("train:", "eval:", "resume:", "interrupted:", "export:", "checkpoint:", "data:")):
                context.log(f"        {line.rstrip()}")
            if watch:
                watch(line, process)
    return process.wait()


# ---- Training ------------------------------------------------------------------------------------------
def start_job(
    context: JobContext,
    execution: Execution,
    step: dict,
    arguments: dict,
    *,
    operation: str,
    resources: dict,
    image: str,
) -> str:
    """What happens before a job's container starts; returns the job name Pipelines gives it.

    SageMaker validates the request, authorizes the pipeline role (Create*Job, PassRole, the volume
    key's grant), and pulls the image as the job role.
    """
    job_name = f"pipelines-{execution.execution_id[:12]}-{step['Name']}"[:63]
    kind = operation.removeprefix("Create")
    validate_request(operation, {**arguments, f"{kind}Name": job_name})
    check_start(context, f"sagemaker:{operation}", job_name, arguments, resources)
    check_image_pull(context.cloud.directory, arguments["RoleArn"], image)
    group = "TrainingJobs" if kind == "TrainingJob" else "ProcessingJobs"
    check_log_delivery(
        context.cloud.directory, arguments["RoleArn"], context.region, f"/aws/sagemaker/{group}", f"{job_name}/algo-1"
    )
    return job_name


StepRunner = Callable[[dict, dict, Execution], dict]


def _job_step(
    context: JobContext, operation: str, resources: tuple[str, ...], image: tuple[str, ...], finish
) -> StepRunner:
    """A step that starts one job (``resources`` and ``image`` are where its request holds them), then finishes
    it with ``finish(job_name, step, arguments, execution)``; any failure becomes the step's SageMaker error."""

    def run(step: dict, arguments: dict, execution: Execution) -> dict:
        try:
            job_name = start_job(
                context,
                execution,
                step,
                arguments,
                operation=operation,
                resources=read_path(arguments, resources),
                image=read_path(arguments, image),
            )
            return finish(job_name, step, arguments, execution)
        except (AccessDenied, OSError, ClientError, BotoCoreError) as error:
            raise _as_step_error(error) from error

    return run


def training_step(context: JobContext) -> StepRunner:
    return _job_step(
        context,
        "CreateTrainingJob",
        ("ResourceConfig",),
        ("AlgorithmSpecification", "TrainingImage"),
        lambda job_name, _step, arguments, _execution: TrainingJob(context, job_name, arguments).run(),
    )


class TrainingJob:
    def __init__(self, context: JobContext, name: str, arguments: dict) -> None:
        self.context, self.name, self.arguments = context, name, arguments
        self.role = arguments["RoleArn"]
        self.s3 = context.cloud.as_role("s3", self.role, context.region)
        self.isolated = bool(arguments.get("EnableNetworkIsolation"))
        self.checkpoint = arguments.get("CheckpointConfig")
        self.folder = context.workdir / name
        self.attempt = 0
        self.interrupted_in: int | None = None

    def run(self) -> dict:
        while True:
            self.attempt += 1
            root = self._prepare()
            code = self._start(root)
            if self.checkpoint:
                upload_folder(self.s3, root / "checkpoints", self.checkpoint["S3Uri"])
            if code == 0:
                break
            if self.interrupted_in == self.attempt:
                self.context.log(
                    f"        spot interruption: job restarts on a fresh /opt/ml (attempt {self.attempt + 1})"
                )
                continue
            failure = root / "output" / "failure"
            reason = failure.read_text().strip()[-2000:] if failure.exists() else f"exit code {code}"
            raise StepError("SageMaker.JOB_FAILED", f"AlgorithmError: {reason} (log: {self.folder}/job.log)")
        return {"TrainingJobName": self.name, "ModelArtifacts": {"S3ModelArtifacts": self._upload_model(root)}}

    def _prepare(self) -> Path:
        root = self.folder / f"attempt-{self.attempt}" / "opt-ml"
        config = root / "input" / "config"
        for folder in (config, root / "model", root / "output" / "data", root / "checkpoints", root / "code"):
            folder.mkdir(parents=True, exist_ok=True)
        channels = {}
        for channel in self.arguments.get("InputDataConfig", []):
            source = channel["DataSource"]["S3DataSource"]
            count = download_prefix(self.s3, source["S3Uri"], root / "input" / "data" / channel["ChannelName"])
            channels[channel["ChannelName"]] = {
                "TrainingInputMode": self.arguments["AlgorithmSpecification"].get("TrainingInputMode", "File"),
                "S3DistributionType": source.get("S3DataDistributionType"),
                "RecordWrapperType": "None",
            }
            self.context.log(f"        channel {channel['ChannelName']}: {count} object(s) from {source['S3Uri']}")
        if self.checkpoint:
            restored = download_prefix(self.s3, self.checkpoint["S3Uri"], root / "checkpoints")
            if restored:
                self.context.log(f"        checkpoints: {restored} file(s) restored from {self.checkpoint['S3Uri']}")
        (config / "hyperparameters.json").write_text(json.dumps(self.arguments.get("HyperParameters", {})))
        (config / "inputdataconfig.json").write_text(json.dumps(channels))
        (config / "resourceconfig.json").write_text(
            json.dumps({"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "lo"})
        )
        return root

    def _start(self, root: Path) -> int:
        env = container_env(
            self.context,
            {**self.arguments.get("Environment", {}), "TRAINING_JOB_NAME": self.name},
            None if self.isolated else self.role,
        )
        return run_container(
            self.context,
            root,
            [self.context.python, "-c", TRAIN_ENTRY],
            env,
            isolated=self.isolated,
            log_file=self.folder / "job.log",
            watch=self._watch,
        )

    def _watch(self, line: str, process: subprocess.Popen) -> None:
        interruption = self.context.interruption
        # One interruption per execution: the first job to reach the step is reclaimed, once.
        if not interruption or interruption.happened or not line.startswith("train: step="):
            return
        if int(line.split("=", 1)[1].split()[0]) >= interruption.at_step:
            interruption.happened.append(self.name)
            self.interrupted_in = self.attempt
            self.context.log(f"        spot interruption injected: SIGTERM at {line.split()[1]}")
            os.killpg(process.pid, signal.SIGTERM)

    def _upload_model(self, root: Path) -> str:
        archive = pack_model_dir(root / "model", self.folder / "model.tar.gz")
        bucket, prefix = split_uri(self.arguments["OutputDataConfig"]["S3OutputPath"])
        key = f"{prefix.rstrip('/')}/{self.name}/output/model.tar.gz".lstrip("/")
        self.s3.upload_file(str(archive), bucket, key)
        return f"s3://{bucket}/{key}"


def pack_model_dir(model_dir: Path, archive: Path) -> Path:
    """model.tar.gz with the model directory's contents at its root, as SageMaker writes it after training."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(model_dir.iterdir()):
            tar.add(path, arcname=path.name)
    return archive


# ---- Processing ------------------------------------------------------------------------------------
def processing_step(context: JobContext) -> StepRunner:
    def finish(job_name: str, step: dict, arguments: dict, execution: Execution) -> dict:
        outputs = run_processing(context, job_name, arguments)
        execution.property_files[step["Name"]] = read_property_files(context, step, outputs)
        return {
            "ProcessingJobName": job_name,
            "ProcessingOutputConfig": {
                "Outputs": {name: {"OutputName": name, "S3Output": {"S3Uri": uri}} for name, uri in outputs.items()}
            },
        }

    return _job_step(
        context,
        "CreateProcessingJob",
        ("ProcessingResources", "ClusterConfig"),
        ("AppSpecification", "ImageUri"),
        finish,
    )


def run_processing(context: JobContext, job_name: str, arguments: dict) -> dict[str, str]:
    role = arguments["RoleArn"]
    s3 = context.cloud.as_role("s3", role, context.region)
    folder = context.workdir / job_name
    root = folder / "opt-ml"
    for item in arguments.get("ProcessingInputs", []):
        local = _under_opt_ml(root, item["S3Input"]["LocalPath"])
        count = download_prefix(s3, item["S3Input"]["S3Uri"], local)
        context.log(f"        input {item['InputName']}: {count} object(s) from {item['S3Input']['S3Uri']}")
    outputs = arguments.get("ProcessingOutputConfig", {}).get("Outputs", [])
    for output in outputs:
        _under_opt_ml(root, output["S3Output"]["LocalPath"]).mkdir(parents=True, exist_ok=True)
    app = arguments["AppSpecification"]
    isolated = bool(arguments.get("NetworkConfig", {}).get("EnableNetworkIsolation"))
    env = container_env(context, arguments.get("Environment", {}), None if isolated else role)
    code = run_container(
        context,
        root,
        [*app.get("ContainerEntrypoint", []), *app.get("ContainerArguments", [])],
        env,
        isolated=isolated,
        log_file=folder / "job.log",
    )
    if code != 0:
        tail = "".join((folder / "job.log").read_text().splitlines(keepends=True)[-15:])
        raise StepError("SageMaker.JOB_FAILED", f"ClientError: the entrypoint exited with {code}:\n{tail}")
    uploaded = {}
    for output in outputs:
        local = _under_opt_ml(root, output["S3Output"]["LocalPath"])
        upload_folder(s3, local, output["S3Output"]["S3Uri"])
        uploaded[output["OutputName"]] = output["S3Output"]["S3Uri"]
    return uploaded


def read_property_files(context: JobContext, step: dict, outputs: dict[str, str]) -> dict[str, dict]:
    """Pipelines reads each property file from the output's S3 location, as the pipeline role."""
    s3 = context.cloud.as_role("s3", context.pipeline_role, context.region)
    files = {}
    for spec in step.get("PropertyFiles", []):
        bucket, prefix = split_uri(outputs[spec["OutputName"]])
        key = f"{prefix.rstrip('/')}/{spec['FilePath']}"
        files[spec["PropertyFileName"]] = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    return files


def _under_opt_ml(root: Path, local_path: str) -> Path:
    path = Path(local_path)
    if OPT_ML not in path.parents:
        raise StepError("SageMaker.VALIDATION", f"{local_path}: processing paths must be under /opt/ml")
    return root / path.relative_to(OPT_ML)


# ---- RegisterModel ------------------------------------------------------------------------------------
def register_step(context: JobContext) -> Callable[[dict, dict, Execution], dict]:
    def run(step: dict, arguments: dict, execution: Execution) -> dict:
        validate_request("CreateModelPackage", arguments)
        sagemaker = context.cloud.as_role("sagemaker", context.pipeline_role, context.region)
        try:
            arn = sagemaker.create_model_package(**arguments)["ModelPackageArn"]
        except Exception as error:  # noqa: BLE001 - botocore's error names the denied action
            raise StepError("SageMaker.CLIENT_ERROR", f"CreateModelPackage: {error}") from error
        context.log(f"        registered {arn}")
        return {"ModelPackageArn": arn}

    return run


# ---- Model and Transform: the optional batch step ------------------------------------------------------
def model_step(context: JobContext) -> StepRunner:
    """CreateModel as the pipeline role (with its condition keys, and passing the model's role)."""

    def run(step: dict, arguments: dict, execution: Execution) -> dict:
        name = f"pipelines-{execution.execution_id}-{step['Name']}"[:63]
        request = {"ModelName": name, **arguments}
        validate_request("CreateModel", request)
        keys = {
            "sagemaker:NetworkIsolation": _bool(arguments.get("EnableNetworkIsolation")),
            **_request_tags(arguments),
        }
        arn = f"arn:aws:sagemaker:{context.region}:{context.account}:model/{name.lower()}"
        try:
            context.cloud.directory.check(
                Request(context.pipeline_role, "sagemaker:CreateModel", arn, context=_present(keys))
            )
            context.cloud.directory.check(
                Request(
                    context.pipeline_role,
                    "iam:PassRole",
                    arguments["ExecutionRoleArn"],
                    context=(("iam:PassedToService", SAGEMAKER),),
                )
            )
        except AccessDenied as error:
            raise StepError("SageMaker.ACCESS_DENIED", str(error)) from error
        context.cloud.admin("sagemaker", context.account, context.region).create_model(**request)
        context.log(f"        model {name} of {arguments['PrimaryContainer'].get('ModelDataUrl')}")
        return {"ModelName": name}

    return run


def transform_step(context: JobContext) -> StepRunner:
    """CreateTransformJob as the pipeline role, then the job as SageMaker runs it (rehearsal.transform): the model's
    data read as the model's role, its container on a local endpoint, files read and answers written as that role."""

    def run(step: dict, arguments: dict, execution: Execution) -> dict:
        from rehearsal.transform import TransformFailed, run_on_local_endpoint

        name = f"pipelines-{execution.execution_id}-{step['Name']}"[:63]
        request = {"TransformJobName": name, **arguments}
        validate_request("CreateTransformJob", request)
        resources, output = arguments["TransformResources"], arguments["TransformOutput"]
        keys = {
            "sagemaker:VolumeKmsKeyArn": resources.get("VolumeKmsKeyId"),
            "sagemaker:OutputKmsKeyArn": output.get("KmsKeyId"),
            "sagemaker:InstanceTypes": [resources["InstanceType"]],
            **_request_tags(arguments),
        }
        directory = context.cloud.directory
        arn = f"arn:aws:sagemaker:{context.region}:{context.account}:transform-job/{name.lower()}"
        try:
            directory.check(Request(context.pipeline_role, "sagemaker:CreateTransformJob", arn, context=_present(keys)))
            check_volume_grant(context, resources)
            model = context.cloud.admin("sagemaker", context.account, context.region).describe_model(
                ModelName=arguments["ModelName"]
            )
            role, container = model["ExecutionRoleArn"], model["PrimaryContainer"]
            check_image_pull(directory, role, container["Image"])
            result = run_on_local_endpoint(
                request,
                s3=context.cloud.as_role("s3", role, context.region),
                model_data_url=container["ModelDataUrl"],
                environment=container.get("Environment", {}),
                folder=context.workdir / name,
            )
        except AccessDenied as error:
            raise StepError("SageMaker.ACCESS_DENIED", str(error)) from error
        except (TransformFailed, ClientError) as error:
            raise StepError("SageMaker.JOB_FAILED", f"ClientError: {error}") from error
        context.log(f"        {result.lines} lines in {result.requests} request(s) -> {', '.join(result.outputs)}")
        return {"TransformJobName": name, "TransformOutput": {"S3OutputPath": output["S3OutputPath"]}}

    return run


def _request_tags(arguments: dict) -> dict[str, str]:
    return {f"aws:RequestTag/{tag['Key']}": tag["Value"] for tag in arguments.get("Tags", [])}


def _present(keys: dict) -> tuple:
    return tuple((k, v) for k, v in keys.items() if v is not None)


# ---- Lambda ----------------------------------------------------------------------------------------
OUTPUT_TYPES: dict[str, Callable[[Any], Any]] = {"String": str, "Integer": int, "Float": float, "Boolean": bool}


def lambda_step(context: JobContext) -> StepRunner:
    """Pipelines invokes the function as the pipeline role; the answer must hold every declared output."""

    def run(step: dict, arguments: dict, execution: Execution) -> dict:
        arn = step["FunctionArn"]
        try:
            context.cloud.directory.check(Request(context.pipeline_role, "lambda:InvokeFunction", arn))
        except AccessDenied as error:
            raise StepError("Lambda.ACCESS_DENIED", str(error)) from error
        if context.call_function is None:
            raise StepError("Step.UNSUPPORTED", "this rehearsal deployed no functions")
        try:
            answer = context.call_function(arn, arguments)
        except Exception as error:  # noqa: BLE001 - the function's own error is the step's failure reason
            raise StepError("Lambda.FUNCTION_ERROR", str(error)) from error
        outputs = {}
        for output in step.get("OutputParameters", []):
            name = output["OutputName"]
            if not isinstance(answer, dict) or answer.get(name) is None:
                raise StepError("Lambda.OUTPUT", f"{step['Name']}: the function's answer has no {name!r}: {answer!r}")
            outputs[name] = OUTPUT_TYPES[output.get("OutputType", "String")](answer[name])
        context.log(f"        {step['Name']}: {json.dumps(outputs)}")
        return {"OutputParameters": outputs}

    return run


def runners(context: JobContext) -> dict:
    return {
        "Training": training_step(context),
        "Processing": processing_step(context),
        "RegisterModel": register_step(context),
        "Lambda": lambda_step(context),
        "Model": model_step(context),
        "Transform": transform_step(context),
    }
