"""The copy function (stacks/functions/copy_model): what CloudFormation hears, whatever the event holds."""

from __future__ import annotations

import hashlib
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from stacks.functions.copy_model import index

BODY = b"evaluated model bytes"


class FakeS3:
    """The two calls the function makes, on one object."""

    def __init__(self, body: bytes) -> None:
        self.body, self.uploaded = body, {}

    def get_object(self, Bucket: str, Key: str) -> dict:
        return {"Body": io.BytesIO(self.body)}

    def upload_fileobj(self, fileobj, bucket: str, key: str, ExtraArgs: dict) -> None:
        self.uploaded[(bucket, key)] = fileobj.read()


@pytest.fixture
def cloudformation(monkeypatch):
    """A loopback stand-in for CloudFormation's response bucket, admitted as the SDK's S3 endpoint."""
    answers: list[dict] = []

    class Catch(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_PUT(self) -> None:
            answers.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

    server = HTTPServer(("127.0.0.1", 0), Catch)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    yield f"http://127.0.0.1:{server.server_address[1]}/response", answers
    server.shutdown()


def event(url: str, **properties) -> dict:
    return {
        "RequestType": "Create",
        "ResponseURL": url,
        "StackId": "stack",
        "RequestId": "request",
        "LogicalResourceId": "Copy",
        "ResourceProperties": {
            "SourceModelDataUrl": "s3://dev-models/training-jobs/j/output/model.tar.gz",
            "Sha256": hashlib.sha256(BODY).hexdigest(),
            "DestinationBucket": "prod-models",
            "DestinationPrefix": "released-models/",
            **properties,
        },
    }


def test_the_copy_is_kept_under_a_key_derived_from_the_evaluated_digest(cloudformation):
    url, answers = cloudformation
    s3 = FakeS3(BODY)
    index.handler(event(url), None, s3=s3)
    digest = hashlib.sha256(BODY).hexdigest()
    assert answers[-1]["Status"] == "SUCCESS"
    assert s3.uploaded == {("prod-models", f"released-models/{digest}/model.tar.gz"): BODY}


def test_a_digest_mismatch_fails_without_telling_the_digest_it_found(cloudformation):
    url, answers = cloudformation
    index.handler(event(url), None, s3=FakeS3(b"changed after evaluation"))
    assert answers[-1]["Status"] == "FAILED" and "changed after evaluation" in answers[-1]["Reason"]
    assert hashlib.sha256(b"changed after evaluation").hexdigest() not in json.dumps(answers[-1])


def test_a_missing_property_is_answered_not_left_hanging(cloudformation):
    url, answers = cloudformation
    broken = event(url)
    del broken["ResourceProperties"]["DestinationPrefix"]
    index.handler(broken, None, s3=FakeS3(BODY))
    assert answers[-1]["Status"] == "FAILED" and "DestinationPrefix" in answers[-1]["Reason"]


@pytest.mark.parametrize(
    "url, allowed",
    [
        ("https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/arn%3A/x?sig=1", True),
        ("https://cloudformation-custom-resource-response-eucentral1.s3.eu-central-1.amazonaws.com/x", True),
        ("http://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x", False),
        ("https://attacker.example.com/cloudformation-custom-resource-response-useast1.s3.amazonaws.com", False),
        ("https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com.example.com/x", False),
        ("http://169.254.169.254/latest/meta-data/", False),
    ],
)
def test_only_cloudformations_response_bucket_hears_the_answer(monkeypatch, url, allowed):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    assert index.response_url_allowed(url) is allowed
