"""Data capture, as SageMaker writes it for a realtime endpoint with a DataCaptureConfig (SageMaker Developer Guide,
"Capture data from real-time endpoint"; the record fields as botocore's and the SDK's capture readers name them).

Each sampled invocation becomes one JSON line: ``captureData.endpointInput`` and ``endpointOutput`` (the observed
content type, the mode, the body, and its encoding: ``JSON`` for the config's JSON content types, ``CSV`` for its CSV
ones, ``BASE64`` otherwise) and ``eventMetadata`` (``eventId``, ``inferenceId`` where the caller passed one,
``inferenceTime``). The lines are written as the model's execution role under
``<destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/``, encrypted with the config's key.
"""

from __future__ import annotations

import base64
import json
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from rehearsal.sagemaker.channels import split_uri

Send = Callable[[bytes], tuple[int, bytes]]


class CapturingEndpoint:
    """Invocations of ``send`` (a fleet's /invocations), captured as ``config`` says; ``flush`` writes them."""

    def __init__(self, send: Send, config: dict, *, endpoint: str, variant: str, s3, seed: int = 0) -> None:
        self.send, self.config, self.s3 = send, config, s3
        self.endpoint, self.variant = endpoint, variant
        self.sampler = random.Random(seed)
        self.modes = {option["CaptureMode"] for option in config.get("CaptureOptions", [])}
        header = config.get("CaptureContentTypeHeader", {})
        self.encodings = {
            **{kind: "JSON" for kind in header.get("JsonContentTypes", [])},
            **{kind: "CSV" for kind in header.get("CsvContentTypes", [])},
        }
        self.lines: list[str] = []

    def invoke(self, body: bytes, *, content_type: str, inference_id: str | None = None) -> tuple[int, bytes]:
        status, answer = self.send(body)
        if status == 200 and self.sampler.random() * 100 < self.config["InitialSamplingPercentage"]:
            data = {}
            if "Input" in self.modes:
                data["endpointInput"] = self._captured(body, content_type, "INPUT")
            if "Output" in self.modes:
                data["endpointOutput"] = self._captured(answer, content_type, "OUTPUT")
            metadata = {"eventId": str(uuid.uuid4()), "inferenceTime": datetime.now(UTC).isoformat()}
            if inference_id is not None:
                metadata["inferenceId"] = inference_id
            self.lines.append(json.dumps({"captureData": data, "eventMetadata": metadata, "eventVersion": "0"}))
        return status, answer

    def _captured(self, body: bytes, content_type: str, mode: str) -> dict:
        encoding = self.encodings.get(content_type, "BASE64")
        data = base64.b64encode(body).decode() if encoding == "BASE64" else body.decode("utf-8")
        return {"observedContentType": content_type, "mode": mode, "data": data, "encoding": encoding}

    def flush(self) -> str | None:
        """Write what was captured as one object, as the model's role; its key, or None when nothing was."""
        if not self.lines:
            return None
        bucket, prefix = split_uri(self.config["DestinationS3Uri"])
        now = datetime.now(UTC)
        key = (
            f"{prefix.rstrip('/')}/{self.endpoint}/{self.variant}/{now:%Y/%m/%d/%H}/"
            f"{now:%M-%S}-{now.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
        )
        encryption = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.config["KmsKeyId"]}
        self.s3.put_object(Bucket=bucket, Key=key, Body="\n".join(self.lines).encode() + b"\n", **encryption)
        self.lines = []
        return key
