"""A batch transform job, run as SageMaker runs one, against the local endpoint.

Given the CreateTransformJob request `textclf batch` sends (checked against botocore's model first), it reads
each input object as the model's role, splits it by line, packs whole lines into requests of at most
MaxPayloadInMB (BatchStrategy MultiRecord) or sends one line per request (SingleRecord), posts them with the
request's ContentType and Accept, checks that every request gave one answer line per input line, and writes
``<S3OutputPath>/<object name>.out`` as the role, encrypted with the request's KmsKeyId.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rehearsal.sagemaker.channels import split_uri
from rehearsal.sagemaker.local_endpoint import LocalEndpoint, free_port
from rehearsal.sagemaker.rules import validate_request


class TransformFailed(RuntimeError):
    """What DescribeTransformJob's FailureReason would say."""


@dataclass(frozen=True)
class TransformResult:
    outputs: dict[str, bytes]  # output URI -> body
    requests: int
    lines: int


def run_transform(request: dict, *, s3, endpoint_url: str) -> TransformResult:
    validate_request("CreateTransformJob", request)
    source = request["TransformInput"]
    if source.get("SplitType") != "Line":
        raise TransformFailed("the rehearsal runs SplitType Line only, which `textclf batch` sends")
    limit = request.get("MaxPayloadInMB", 6) * 1024 * 1024
    single = request.get("BatchStrategy") == "SingleRecord"
    output = request["TransformOutput"]
    input_uri = source["DataSource"]["S3DataSource"]["S3Uri"]
    bucket, prefix = split_uri(input_uri)
    folder = prefix[: prefix.rfind("/") + 1]
    outputs, requests, total = {}, 0, 0
    for key in _keys(s3, bucket, prefix):
        lines = s3.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines()
        answers: list[bytes] = []
        for payload in _payloads(lines, limit, single):
            answers += _invoke(endpoint_url, payload, source["ContentType"], output["Accept"], key)
            requests += 1
        if len(answers) != len(lines):
            raise TransformFailed(f"{key}: {len(lines)} input lines gave {len(answers)} answer lines")
        target = f"{output['S3OutputPath'].rstrip('/')}/{key[len(folder) :]}.out"
        body = b"\n".join(answers) + b"\n"
        out_bucket, out_key = split_uri(target)
        s3.put_object(
            Bucket=out_bucket, Key=out_key, Body=body, ServerSideEncryption="aws:kms", SSEKMSKeyId=output["KmsKeyId"]
        )
        outputs[target] = body
        total += len(lines)
    return TransformResult(outputs, requests, total)


def run_on_local_endpoint(
    request: dict, *, s3, model_data_url: str, environment: dict[str, str], folder: Path
) -> TransformResult:
    """The whole job: the model data downloaded with ``s3`` (the model's role), served with ``environment`` on a
    local endpoint (the DLC's default workers, as the batch model sets none), and ``request`` run against it."""
    folder.mkdir(parents=True, exist_ok=True)
    bucket, key = split_uri(model_data_url)
    s3.download_file(bucket, key, str(folder / "model.tar.gz"))
    with LocalEndpoint(folder / "model.tar.gz", port=free_port(), env=environment) as endpoint:
        return run_transform(request, s3=s3, endpoint_url=endpoint.url)


def _keys(s3, bucket: str, prefix: str) -> list[str]:
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    if not keys:
        raise TransformFailed(f"no objects under s3://{bucket}/{prefix}")
    return keys


def _payloads(lines: list[bytes], limit: int, single: bool) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    size = 0
    for line in lines:
        if batch and (single or size + len(line) + 1 > limit):
            yield batch
            batch, size = [], 0
        batch.append(line)
        size += len(line) + 1
    if batch:
        yield batch


def _invoke(url: str, lines: list[bytes], content_type: str, accept: str, key: str) -> list[bytes]:
    request = urllib.request.Request(
        f"{url}/invocations",
        data=b"\n".join(lines) + b"\n",
        method="POST",
        headers={"Content-Type": content_type, "Accept": accept},
    )
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            return response.read().splitlines()
    except urllib.error.HTTPError as error:
        raise TransformFailed(
            f"{key}: the model answered {error.code} to a request of {len(lines)} lines: "
            f"{error.read()[:300].decode(errors='replace')}"
        ) from error
