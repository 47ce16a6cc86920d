"""Every minute: send the served release's probe set to the endpoint, one text per request, and publish the share of
answers that agree with what the evaluation answered. During a blue/green update each request goes to the old or
the new fleet as SageMaker routes it, so a new model that answers wrongly lowers the share by its traffic share.

The event (the schedule's input, written at synth): {"EndpointName", "Namespace", "MetricName", "Probes": [[label,
text], ...]}.
A probe the endpoint did not answer because the endpoint is missing, updating or throttled is not counted; a model
error (4xx or 5xx from the container) counts as disagreement. Lambda's python3.14 runtime: boto3 only.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import boto3
from botocore.exceptions import ClientError

# The container answered: its status counts. Any other error means no answer to judge.
MODEL_ERROR = "ModelError"

Invoke = Callable[[bytes], "tuple[int, bytes] | None"]  # body -> (status, body), or None: not answered


def agreement(invoke: Invoke, probes: list[list[str]]) -> float | None:
    """The share of answered probes whose label is the probe's; None when no probe was answered."""
    answered = agreed = 0
    for label, text in probes:
        result = invoke(json.dumps({"inputs": [text]}).encode())
        if result is None:
            continue
        status, body = result
        answered += 1
        agreed += status == 200 and answered_label(body) == label
    return agreed / answered if answered else None


def answered_label(body: bytes) -> str | None:
    try:
        (answer,) = json.loads(body)
        return answer["label"]
    except (ValueError, KeyError, TypeError):
        return None


def runtime_invoke(client, endpoint: str) -> Invoke:
    def invoke(body: bytes) -> tuple[int, bytes] | None:
        try:
            response = client.invoke_endpoint(
                EndpointName=endpoint, ContentType="application/json", Accept="application/json", Body=body
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == MODEL_ERROR:
                return error.response.get("OriginalStatusCode", 500), b""
            return None
        return 200, response["Body"].read()

    return invoke


def handler(event: dict, context) -> dict:
    endpoint = event["EndpointName"]
    value = agreement(runtime_invoke(boto3.client("sagemaker-runtime"), endpoint), event["Probes"])
    if value is not None:
        boto3.client("cloudwatch").put_metric_data(
            Namespace=event["Namespace"],
            MetricData=[
                {
                    "MetricName": event["MetricName"],
                    "Dimensions": [{"Name": "EndpointName", "Value": endpoint}],
                    "Value": value,
                    "Unit": "None",
                }
            ],
        )
    print(json.dumps({"endpoint": endpoint, "probes": len(event["Probes"]), "agreement": value}))
    return {"agreement": value}
