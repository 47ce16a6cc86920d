"""A processing job as SageMaker runs it: inputs in, ``ContainerEntrypoint`` verbatim in the job's own /opt/ml,
outputs out, and the step's property files read back as the pipeline role."""

from __future__ import annotations

import json
from pathlib import Path

from rehearsal.sagemaker.api import job_step
from rehearsal.sagemaker.channels import download_prefix, split_uri, upload_folder
from rehearsal.sagemaker.containers import OPT_ML, container_env, run_container
from rehearsal.sagemaker.context import JobContext, StepRunner
from rehearsal.sagemaker.pipelines import Execution, StepError


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

    return job_step(
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
