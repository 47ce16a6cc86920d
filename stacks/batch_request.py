"""CreateTransformJob's arguments for batch scoring, written once for `textclf batch` and the pipeline's step.

Plain Python (no CDK), so the CLI imports it quickly; values may be pipeline expressions.
"""

from __future__ import annotations

from typing import Any

from stacks.config import STAGE_TAG, has_instance_store
from training import contract


def transform_arguments(
    *,
    model_name: Any,
    input_uri: Any,
    output_uri: Any,
    content_type: Any,
    key_arn: str,
    instance_type: str,
    instance_count: int,
    stage: str,
) -> dict:
    """Lines of the input files, packed into requests of up to BATCH_MAX_PAYLOAD_MB; one answer line per input line,
    written encrypted with the stage's key; the job tagged with its stage. Less TransformJobName."""
    resources: dict[str, Any] = {"InstanceType": instance_type, "InstanceCount": instance_count}
    if not has_instance_store(instance_type):
        resources["VolumeKmsKeyId"] = key_arn
    return {
        "ModelName": model_name,
        "BatchStrategy": "MultiRecord",
        "MaxPayloadInMB": contract.BATCH_MAX_PAYLOAD_MB,
        "ModelClientConfig": {
            "InvocationsTimeoutInSeconds": contract.BATCH_INVOCATION_TIMEOUT_SECONDS,
            "InvocationsMaxRetries": 1,
        },
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_uri}},
            "ContentType": content_type,
            "SplitType": "Line",
            "CompressionType": "None",
        },
        "TransformOutput": {
            "S3OutputPath": output_uri,
            "Accept": content_type,
            "AssembleWith": "Line",
            "KmsKeyId": key_arn,
        },
        "TransformResources": resources,
        "Tags": [{"Key": STAGE_TAG, "Value": stage}],
    }
