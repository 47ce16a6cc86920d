"""The rehearsal's transform job: `textclf batch`'s request run against the real local endpoint, files in moto's S3."""

from __future__ import annotations

import argparse
import json

import pytest

from cli import batch
from rehearsal.sagemaker.local_endpoint import LocalEndpoint, free_port
from rehearsal.sagemaker.transform import TransformFailed, run_transform
from stacks.batch_request import BATCH_ENVIRONMENT
from training import contract

# Trains, runs jobs or serves a model: the delivery pipeline's Rehearse action runs this module, Synth does not.
pytestmark = pytest.mark.workload

TEXTS = [f"review number {i}: {'a wonderful, moving film' if i % 2 else 'a dull, lifeless mess'}" for i in range(150)]
WHERE = batch.BatchLocations("m", "s3://data/batch/input/", "s3://data/batch/output/", "arn:aws:kms:us-east-1:1:key/k")


@pytest.fixture(scope="module")
def batch_endpoint(served_model_dir):
    """The model served with the batch model's environment, as a transform job's container runs it."""
    with LocalEndpoint(served_model_dir, port=free_port(), workers=1, env=BATCH_ENVIRONMENT) as endpoint:
        yield endpoint


@pytest.fixture
def s3(mocked_registry):
    mocked_registry.s3.create_bucket(Bucket="data")
    return mocked_registry.s3


def request(name: str, **changes) -> dict:
    args = argparse.Namespace(
        input=f"{WHERE.input_prefix}{name}", output=f"{WHERE.output_prefix}run/", instance_type="ml.c6i.xlarge",
        instance_count=1,
    )  # fmt: skip
    made = batch.transform_request("dev", WHERE, args, batch.content_type(args.input, None), "job")
    return {**made, **changes}


def test_json_lines_come_back_one_answer_per_line_in_order(s3, batch_endpoint):
    body = "".join(json.dumps({"inputs": text}) + "\n" for text in TEXTS)
    s3.put_object(Bucket="data", Key="batch/input/texts.jsonl", Body=body.encode())
    result = run_transform(request("texts.jsonl"), s3=s3, endpoint_url=batch_endpoint.url)
    assert (result.lines, result.requests) == (150, 1)  # 150 short lines fit in one 1 MB request
    (uri,) = result.outputs
    assert uri == "s3://data/batch/output/run/texts.jsonl.out"
    stored = s3.get_object(Bucket="data", Key="batch/output/run/texts.jsonl.out")
    answers = [json.loads(line) for line in stored["Body"].read().splitlines()]
    assert len(answers) == 150 and all("label" in (a[0] if isinstance(a, list) else a) for a in answers)
    assert stored["ServerSideEncryption"] == "aws:kms"


def test_csv_and_single_record_give_the_same_answers_as_one_request(s3, batch_endpoint):
    s3.put_object(Bucket="data", Key="batch/input/texts.csv", Body="".join(f'"{t}"\n' for t in TEXTS[:20]).encode())
    packed = run_transform(request("texts.csv"), s3=s3, endpoint_url=batch_endpoint.url)
    single = run_transform(request("texts.csv", BatchStrategy="SingleRecord"), s3=s3, endpoint_url=batch_endpoint.url)
    assert (packed.requests, single.requests) == (1, 20)
    assert [line.split(b",")[0] for line in packed.outputs[next(iter(packed.outputs))].splitlines()] == [
        line.split(b",")[0] for line in single.outputs[next(iter(single.outputs))].splitlines()
    ]


def test_the_endpoints_own_batch_limit_would_fail_the_job(s3, served_model_dir):
    """Why the batch model has its own environment: the serving limit refuses a transform job's request (4xx)."""
    body = "".join(json.dumps({"inputs": text}) + "\n" for text in TEXTS)
    s3.put_object(Bucket="data", Key="batch/input/texts.jsonl", Body=body.encode())
    with LocalEndpoint(served_model_dir, port=free_port(), workers=1) as serving:
        with pytest.raises(TransformFailed, match=r"answered 4\d\d to a request of 150 lines"):
            run_transform(request("texts.jsonl"), s3=s3, endpoint_url=serving.url)
    assert int(BATCH_ENVIRONMENT[contract.MAX_BATCH_ENV]) > len(TEXTS)


def test_an_invalid_request_fails_before_anything_runs(s3):
    with pytest.raises(Exception, match="MaxPayloadInMB"):
        run_transform(request("texts.jsonl", MaxPayloadInMB=-1), s3=s3, endpoint_url="http://127.0.0.1:9")
