"""The quality probe's function: what it counts as agreement, and the requests it makes, checked against botocore."""

from __future__ import annotations

import io
import json

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from stacks.functions.quality_probe import index

PROBES = [["positive", "a moving, funny film"], ["negative", "a dull, joyless mess"]]
EVENT = {"EndpointName": "textclf-staging", "Namespace": "textclf-staging/Serving", "MetricName": "ProbeAgreement"}


def answer(label: str) -> tuple[int, bytes]:
    return 200, json.dumps([{"label": label, "score": 0.98}]).encode()


def test_agreement_counts_answered_probes_and_any_error_answer_disagrees():
    answers = iter([answer("positive"), (400, b"handler failed"), None])
    assert index.agreement(lambda body: next(answers), [*PROBES, PROBES[0]]) == 0.5
    assert index.agreement(lambda body: None, PROBES) is None, "nothing answered: nothing to publish"
    assert index.agreement(lambda body: (200, b"not json"), PROBES) == 0.0


def body(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


@pytest.fixture
def clients(monkeypatch):
    runtime = boto3.client("sagemaker-runtime", region_name="us-east-1")
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    made = {"sagemaker-runtime": runtime, "cloudwatch": cloudwatch}
    monkeypatch.setattr(index.boto3, "client", lambda service, **kwargs: made[service])
    with Stubber(runtime) as runtime_stub, Stubber(cloudwatch) as cloudwatch_stub:
        yield runtime_stub, cloudwatch_stub


def invocation(text: str) -> dict:
    return {
        "EndpointName": "textclf-staging",
        "ContentType": "application/json",
        "Accept": "application/json",
        "Body": json.dumps({"inputs": [text]}).encode(),
    }


def test_each_probe_is_one_request_and_the_share_is_published_to_the_stages_namespace(clients):
    runtime, cloudwatch = clients
    runtime.add_response("invoke_endpoint", {"Body": body(answer("positive")[1])}, invocation(PROBES[0][1]))
    # The container answered 500 (SageMaker relays it as ModelError): a disagreement.
    runtime.add_client_error(
        "invoke_endpoint", "ModelError", http_status_code=424, modeled_fields={"OriginalStatusCode": 500}
    )
    cloudwatch.add_response(
        "put_metric_data",
        {},
        {
            "Namespace": "textclf-staging/Serving",
            "MetricData": [
                {
                    "MetricName": "ProbeAgreement",
                    "Dimensions": [{"Name": "EndpointName", "Value": "textclf-staging"}],
                    "Value": 0.5,
                    "Unit": "None",
                }
            ],
        },
    )
    assert index.handler({**EVENT, "Probes": PROBES}, None) == {"agreement": 0.5}
    runtime.assert_no_pending_responses()
    cloudwatch.assert_no_pending_responses()


def test_an_endpoint_that_is_not_there_publishes_nothing(clients):
    runtime, _ = clients
    for _ in PROBES:
        runtime.add_client_error("invoke_endpoint", "ValidationError", http_status_code=400)
    assert index.handler({**EVENT, "Probes": PROBES}, None) == {"agreement": None}
