"""CloudFormation custom resource: copy the released model.tar.gz into this stage's own bucket, verified.

The SHA-256 was recorded in the registry when the model was evaluated (the package's
``ModelDataSha256``). The copy is streamed through that digest and only kept when they match, so a
stage serves exactly what passed evaluation, from a bucket no training or processing role of any
stage may write. Deleting the resource keeps the copy: a rollback serves it again.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import urllib.request
from urllib.parse import urlparse

CHUNK = 8 * 1024 * 1024


class DigestMismatch(ValueError):
    """The source bytes are not the ones the registry recorded."""


def copy_verified(properties: dict, s3) -> dict:
    source = urlparse(properties["SourceModelDataUrl"])
    expected = properties["Sha256"].lower()
    bucket, key = properties["DestinationBucket"], properties["DestinationKey"]
    digest = hashlib.sha256()
    with tempfile.TemporaryFile() as scratch:
        body = s3.get_object(Bucket=source.netloc, Key=source.path.lstrip("/"))["Body"]
        for chunk in iter(lambda: body.read(CHUNK), b""):
            digest.update(chunk)
            scratch.write(chunk)
        if digest.hexdigest() != expected:
            raise DigestMismatch(
                f"{properties['SourceModelDataUrl']} has SHA-256 {digest.hexdigest()}, but the registry recorded "
                f"{expected} when it was evaluated: the artifact changed after evaluation, so it is not served. "
                "Fix: register and approve a new model package."
            )
        scratch.seek(0)
        s3.upload_fileobj(scratch, bucket, key, ExtraArgs={"Metadata": {"sha256": expected}})
    return {"ModelDataUrl": f"s3://{bucket}/{key}", "Sha256": expected}


def handler(event: dict, context, s3=None) -> dict:
    properties = event["ResourceProperties"]
    physical_id = (
        event.get("PhysicalResourceId") or f"s3://{properties['DestinationBucket']}/{properties['DestinationKey']}"
    )
    answer = {
        "Status": "SUCCESS",
        "PhysicalResourceId": physical_id,
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": {},
    }
    try:
        if event["RequestType"] in ("Create", "Update"):
            if s3 is None:
                import boto3

                s3 = boto3.client("s3")
            answer["Data"] = copy_verified(properties, s3)
            answer["PhysicalResourceId"] = answer["Data"]["ModelDataUrl"]
    except Exception as error:  # noqa: BLE001 - CloudFormation must hear every failure, or it waits an hour
        answer.update(Status="FAILED", Reason=str(error)[:1000])
    _respond(event["ResponseURL"], answer)
    return answer


def _respond(url: str, answer: dict) -> None:
    body = json.dumps(answer).encode()
    request = urllib.request.Request(
        url, data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
    )
    with urllib.request.urlopen(request, timeout=60):
        pass
