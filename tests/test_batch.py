"""Batch scoring: the batch model in the stack, and `textclf batch` starting a transform job in moto's SageMaker.

botocore validates every request the command sends against SageMaker's service model before moto sees it.
"""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Environment, Stack
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template

from cli import pipeline_ops
from cli.main import main
from stacks.batch import BatchScoring
from stacks.serving import ModelContainer
from training import contract

PACKAGE = "arn:aws:sagemaker:us-east-1:111122223333:model-package/textclf-dev/3"
INPUT = "s3://dev-datasets/batch/input/"
OUTPUT = "s3://dev-datasets/batch/output/"


def test_the_batch_model_is_isolated_and_takes_a_transform_jobs_payloads():
    stack = Stack(App(), "Bare", env=Environment(region="us-east-1"))
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    BatchScoring(
        stack, "Batch", container=ModelContainer.package(PACKAGE), role=role, name_prefix="textclf-dev", int8=True
    )
    (model,) = Template.from_stack(stack).find_resources("AWS::SageMaker::Model").values()
    properties = model["Properties"]
    assert properties["EnableNetworkIsolation"] is True
    assert properties["ModelName"].startswith("textclf-dev-batch-")
    environment = properties["PrimaryContainer"]["Environment"]
    # A 1 MB request of short lines holds thousands of texts; the endpoint's own limit (64) would refuse it.
    assert int(environment[contract.MAX_BATCH_ENV]) >= contract.BATCH_MAX_PAYLOAD_MB * 1024 * 1024 // 64
    assert environment[contract.MODEL_SERVER_TIMEOUT_ENV] == str(contract.BATCH_INVOCATION_TIMEOUT_SECONDS)
    assert environment[contract.QUANTIZE_ENV] == "int8"
    assert any(dependency.startswith("Role") for dependency in model["DependsOn"])


@pytest.fixture
def stage(deployed_stage, monkeypatch):
    """dev with a served model: its batch model in moto, its outputs naming the batch prefixes."""
    session, key = deployed_stage
    sagemaker = session.client("sagemaker")
    sagemaker.create_model(
        ModelName="textclf-dev-batch-abc",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/batch",
        PrimaryContainer={"ModelPackageName": PACKAGE},
    )
    outputs = {
        "BatchModelName": "textclf-dev-batch-abc",
        "BatchInputUri": INPUT,
        "BatchOutputUri": OUTPUT,
        "DataKeyArn": key,
    }
    monkeypatch.setattr(pipeline_ops, "stage_outputs", lambda config: outputs)
    s3 = session.client("s3")
    s3.put_object(Bucket="dev-datasets", Key="batch/input/reviews.jsonl", Body=b'{"inputs": "great"}\n')
    return sagemaker, key, outputs


def test_batch_starts_a_line_split_transform_job_of_the_batch_model(stage, capsys):
    sagemaker, key, _ = stage
    assert main(["batch", "--input", f"{INPUT}reviews.jsonl", "--output", f"{OUTPUT}run1/"]) == 0
    out = capsys.readouterr().out
    name = out.split()[3].rstrip(":")
    job = sagemaker.describe_transform_job(TransformJobName=name)
    assert job["ModelName"] == "textclf-dev-batch-abc"
    assert job["BatchStrategy"] == "MultiRecord" and job["MaxPayloadInMB"] == contract.BATCH_MAX_PAYLOAD_MB
    source = job["TransformInput"]
    assert (source["ContentType"], source["SplitType"]) == ("application/jsonlines", "Line")
    assert source["DataSource"]["S3DataSource"]["S3Uri"] == f"{INPUT}reviews.jsonl"
    assert job["TransformOutput"]["S3OutputPath"] == f"{OUTPUT}run1/"
    assert job["TransformOutput"]["AssembleWith"] == "Line" and job["TransformOutput"]["KmsKeyId"] == key
    assert job["TransformResources"]["VolumeKmsKeyId"] == key  # ml.c6i has an EBS volume
    assert "answers: s3://dev-datasets/batch/output/run1/<input file name>.out" in out


def test_a_gpu_instance_with_local_nvme_gets_no_volume_key(stage, capsys):
    sagemaker, _, _ = stage
    argv = ["batch", "--input", f"{INPUT}reviews.jsonl", "--output", OUTPUT, "--instance-type", "ml.g4dn.xlarge"]
    assert main(argv) == 0
    name = capsys.readouterr().out.split()[3].rstrip(":")
    assert "VolumeKmsKeyId" not in sagemaker.describe_transform_job(TransformJobName=name)["TransformResources"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--input", "s3://elsewhere/t.jsonl", "--output", OUTPUT], "--input: s3://elsewhere/t.jsonl is outside"),
        (["--input", f"{INPUT}reviews.jsonl", "--output", "s3://dev-datasets/o/"], "--output: s3://dev-datasets/o/ is"),
        (["--input", f"{INPUT}reviews.txt", "--output", OUTPUT], "--input: cannot tell the format"),
        (["--input", f"{INPUT}missing.jsonl", "--output", OUTPUT], "--input: nothing at"),
    ],
)  # fmt: skip
def test_a_bad_location_exits_2_naming_the_flag_and_the_fix(stage, capsys, argv, message):
    sagemaker, _, _ = stage
    assert main(["batch", *argv]) == 2
    error = capsys.readouterr().err
    assert message in error and "Fix:" in error
    assert sagemaker.list_transform_jobs()["TransformJobSummaries"] == []


def test_a_stage_that_serves_nothing_has_nothing_to_score_with(deployed_stage, capsys):
    assert main(["batch", "--input", f"{INPUT}a.jsonl", "--output", OUTPUT]) == 2
    assert "serves no model yet" in capsys.readouterr().err


def test_the_stack_outputs_the_batch_model_and_its_prefixes(synthesized):
    _, stages, _, _ = synthesized
    outputs = json.dumps(Template.from_stack(stages[0].mlops).find_outputs("*"))
    for name in ("BatchModelName", "BatchInputUri", "BatchOutputUri"):
        assert name in outputs
