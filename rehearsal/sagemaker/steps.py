"""The pipeline's other step types (RegisterModel, Model, Transform, Lambda), and the runner of every step type."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from rehearsal.iam import AccessDenied, Request
from rehearsal.sagemaker.api import (
    SAGEMAKER,
    check_image_pull,
    check_volume_grant,
    flag,
    present,
)
from rehearsal.sagemaker.context import JobContext, StepRunner
from rehearsal.sagemaker.pipelines import Execution, StepError
from rehearsal.sagemaker.processing import processing_step
from rehearsal.sagemaker.rules import validate_request
from rehearsal.sagemaker.tagging import request_tags, tag_on_create
from rehearsal.sagemaker.training import training_step
from rehearsal.sagemaker.transform import TransformFailed, run_on_local_endpoint


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


def model_step(context: JobContext) -> StepRunner:
    """CreateModel as the pipeline role (with its condition keys, and passing the model's role)."""

    def run(step: dict, arguments: dict, execution: Execution) -> dict:
        name = f"pipelines-{execution.execution_id}-{step['Name']}"[:63]
        request = {"ModelName": name, **arguments}
        validate_request("CreateModel", request)
        keys = {
            "sagemaker:NetworkIsolation": flag(arguments.get("EnableNetworkIsolation")),
            **request_tags(arguments),
        }
        arn = f"arn:aws:sagemaker:{context.region}:{context.account}:model/{name.lower()}"
        try:
            context.cloud.directory.check(
                Request(context.pipeline_role, "sagemaker:CreateModel", arn, context=present(keys))
            )
            for tagging in tag_on_create(context.pipeline_role, "CreateModel", arn, arguments):
                context.cloud.directory.check(tagging)
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
        name = f"pipelines-{execution.execution_id}-{step['Name']}"[:63]
        request = {"TransformJobName": name, **arguments}
        validate_request("CreateTransformJob", request)
        resources, output = arguments["TransformResources"], arguments["TransformOutput"]
        keys = {
            "sagemaker:VolumeKmsKeyArn": resources.get("VolumeKmsKeyId"),
            "sagemaker:OutputKmsKeyArn": output.get("KmsKeyId"),
            "sagemaker:InstanceTypes": [resources["InstanceType"]],
            **request_tags(arguments),
        }
        directory = context.cloud.directory
        arn = f"arn:aws:sagemaker:{context.region}:{context.account}:transform-job/{name.lower()}"
        try:
            directory.check(Request(context.pipeline_role, "sagemaker:CreateTransformJob", arn, context=present(keys)))
            for tagging in tag_on_create(context.pipeline_role, "CreateTransformJob", arn, arguments):
                directory.check(tagging)
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
