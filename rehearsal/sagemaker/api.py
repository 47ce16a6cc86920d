"""What SageMaker checks before a job starts: the request (rules), the pipeline role's Create*Job with the condition
keys SageMaker sets, iam:PassRole, the volume key's grant, the image pull and the log stream, as the job's role."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from rehearsal.iam import AccessDenied, Directory, Request, account_of
from rehearsal.sagemaker.context import JobContext, StepRunner
from rehearsal.sagemaker.pipelines import Execution, StepError
from rehearsal.sagemaker.rules import validate_request
from rehearsal.sagemaker.tagging import request_tags, tag_on_create
from training.contract import read_path

SAGEMAKER = "sagemaker.amazonaws.com"


def as_step_error(error: Exception) -> StepError:
    if isinstance(error, AccessDenied) or "AccessDenied" in str(error):
        return StepError("SageMaker.ACCESS_DENIED", str(error))
    return StepError("SageMaker.CLIENT_ERROR", str(error))


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
        "sagemaker:NetworkIsolation": flag(network.get("EnableNetworkIsolation")),
        "sagemaker:InterContainerTrafficEncryption": flag(network.get("EnableInterContainerTrafficEncryption")),
        **request_tags(arguments),
    }
    kind = "training-job" if action.endswith("TrainingJob") else "processing-job"
    job_arn = f"arn:aws:sagemaker:{context.region}:{context.account}:{kind}/{job_name.lower()}"
    directory.check(Request(context.pipeline_role, action, job_arn, context=present(keys)))
    for tagging in tag_on_create(context.pipeline_role, action.split(":")[1], job_arn, arguments):
        directory.check(tagging)
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


def flag(value) -> str | None:
    """A Bool condition key's value as the request sets it ("true"/"false"), None where the request leaves it out."""
    return None if value is None else str(bool(value)).lower()


def present(keys: dict) -> tuple:
    """The condition keys the request sets, as the policy engine's context."""
    return tuple((k, v) for k, v in keys.items() if v is not None)


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


def job_step(
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
            raise as_step_error(error) from error

    return run
