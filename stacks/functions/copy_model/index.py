"""CloudFormation custom resource: copy the released model.tar.gz into this stage's own bucket, verified.

The SHA-256 was recorded in the registry when the model was evaluated (the package's
``ModelDataSha256``). The copy is streamed through that digest and only kept when they match, so a
stage serves exactly what passed evaluation, from a bucket no training or processing role of any
stage may write. The copy's key is derived from the digest. Deleting the resource keeps the copy:
a rollback serves it again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import urllib.request
from urllib.parse import urlparse

CHUNK = 8 * 1024 * 1024
SHA256 = re.compile(r"^[0-9a-f]{64}$")
# CloudFormation answers through a pre-signed URL of its response bucket in S3.
RESPONSE_HOST = re.compile(
    r"^cloudformation-custom-resource-response-[a-z0-9-]+\.s3([.-][a-z0-9-]+)*\.amazonaws\.com(\.cn)?$"
)
REQUIRED = ("SourceModelDataUrl", "Sha256", "DestinationBucket", "DestinationPrefix")


class DigestMismatch(ValueError):
    """The source bytes are not the ones the registry recorded."""


def destination_key(properties: dict) -> str:
    return f"{properties['DestinationPrefix']}{properties['Sha256'].lower()}/model.tar.gz"


def copy_verified(properties: dict, s3) -> dict:
    missing = [name for name in REQUIRED if not properties.get(name)]
    if missing:
        raise ValueError(f"missing properties {missing}. Fix: deploy the template `cdk synth` writes.")
    expected = properties["Sha256"].lower()
    if not SHA256.match(expected):
        raise ValueError("Sha256: not a SHA-256 hex digest. Fix: deploy the template `cdk synth` writes.")
    source = urlparse(properties["SourceModelDataUrl"])
    bucket, key = properties["DestinationBucket"], destination_key(properties)
    digest = hashlib.sha256()
    with tempfile.TemporaryFile() as scratch:
        body = s3.get_object(Bucket=source.netloc, Key=source.path.lstrip("/"))["Body"]
        for chunk in iter(lambda: body.read(CHUNK), b""):
            digest.update(chunk)
            scratch.write(chunk)
        # The digest found is not printed: stack events would hand it to whoever tries again.
        if digest.hexdigest() != expected:
            raise DigestMismatch(
                f"{properties['SourceModelDataUrl']} does not have the SHA-256 the registry recorded when it was "
                "evaluated: the artifact changed after evaluation, so it is not served. "
                "Fix: register and approve a new model package."
            )
        scratch.seek(0)
        s3.upload_fileobj(scratch, bucket, key, ExtraArgs={"Metadata": {"sha256": expected}})
    return {"ModelDataUrl": f"s3://{bucket}/{key}", "Sha256": expected}


def handler(event: dict, context, s3=None) -> dict:
    properties = event.get("ResourceProperties") or {}
    answer = {
        "Status": "FAILED",
        "PhysicalResourceId": event.get("PhysicalResourceId") or f"copy-{event.get('LogicalResourceId', 'model')}",
        "StackId": event.get("StackId", ""),
        "RequestId": event.get("RequestId", ""),
        "LogicalResourceId": event.get("LogicalResourceId", ""),
        "Data": {},
    }
    try:
        if event["RequestType"] in ("Create", "Update"):
            if s3 is None:
                import boto3

                s3 = boto3.client("s3")
            answer["Data"] = copy_verified(properties, s3)
            answer["PhysicalResourceId"] = answer["Data"]["ModelDataUrl"]
        answer["Status"] = "SUCCESS"
    except Exception as error:  # noqa: BLE001 - CloudFormation must hear every failure, or it waits
        answer["Reason"] = str(error)[:1000]
    finally:
        _respond(event.get("ResponseURL", ""), answer)
    return answer


def response_url_allowed(url: str) -> bool:
    """CloudFormation's response bucket in S3, or the S3 endpoint the SDK was pointed at (AWS_ENDPOINT_URL_S3 or
    AWS_ENDPOINT_URL, never set in Lambda unless the function's configuration sets it)."""
    parsed = urlparse(url)
    if parsed.scheme == "https" and RESPONSE_HOST.match(parsed.hostname or ""):
        return True
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return bool(endpoint) and parsed.hostname == urlparse(endpoint).hostname


def _respond(url: str, answer: dict) -> None:
    if not response_url_allowed(url):
        # Nowhere to answer: CloudFormation times the resource out (the stack's ServiceTimeout), and the log says why.
        print(f"not answering {url!r}: not CloudFormation's response bucket in S3")
        return
    body = json.dumps(answer).encode()
    request = urllib.request.Request(
        url, data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
    )
    with urllib.request.urlopen(request, timeout=60):
        pass
