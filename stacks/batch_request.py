"""Batch scoring's model environment and CreateTransformJob's arguments, written once for the stack's batch model,
`textclf batch` and the pipeline's batch step.

Plain Python (no CDK), so the CLI imports it quickly; values may be pipeline expressions.
"""

from __future__ import annotations

from typing import Any

from stacks.config import STAGE_TAG
from stacks.instances import has_instance_store
from training import contract

# A transform job's requests carry up to BATCH_MAX_PAYLOAD_MB of lines: the endpoint's own limits (texts per
# request, the model server's 60 s) would refuse them.
BATCH_ENVIRONMENT = {
    contract.MAX_BATCH_ENV: str(contract.BATCH_MAX_TEXTS),
    contract.MODEL_SERVER_TIMEOUT_ENV: str(contract.BATCH_INVOCATION_TIMEOUT_SECONDS),
}


def batch_model_environment(*, int8: bool) -> dict[str, str]:
    """What a batch model's container adds to the package's environment: the endpoints' heap cap, the batch
    limits, and int8 where the stage serves it."""
    return {
        contract.MODEL_SERVER_VMARGS_ENV: contract.MODEL_SERVER_VMARGS,
        **BATCH_ENVIRONMENT,
        **({contract.QUANTIZE_ENV: "int8"} if int8 else {}),
    }


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
