"""Daily: join the true labels users gave later (`textclf feedback upload`) with the answers the endpoint captured,
and publish how right those answers were: accuracy, the lowest per-class recall, and how many answers were judged.

A captured record (SageMaker data capture, one JSON object per line) is matched by the InferenceId its caller passed
to InvokeEndpoint, or by its eventId; a feedback row names either. A record that holds several answers (a request
of several texts) is not judged: which answer a label belongs to is unknown. Later feedback files override earlier
ones for the same id. Fewer judged answers than MinLabelled publish nothing, so the alarms treat the day as not
breaching.

The event (the schedule's input, written at synth): {"Bucket", "CapturePrefix", "FeedbackPrefix", "Namespace",
"MinLabelled", "Fields": {"id", "label"}, "Metrics": {"accuracy", "min_class_recall", "count"}}. Lambda's python3.14
runtime: boto3 only.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import boto3


def objects(s3, bucket: str, prefix: str) -> Iterator[tuple[str, str]]:
    """(key, text) of every object under ``prefix``, in key order."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield item["Key"], s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode("utf-8")


def feedback_labels(texts: Iterator[tuple[str, str]], fields: dict) -> dict[str, str]:
    labels: dict[str, str] = {}
    for _, text in texts:
        for line in text.splitlines():
            if line.strip():
                row = json.loads(line)
                labels[str(row[fields["id"]])] = str(row[fields["label"]])
    return labels


def answered_label(record: dict) -> str | None:
    """The one label a captured record's response gave, or None (several answers, or none readable)."""
    output = record.get("captureData", {}).get("endpointOutput") or {}
    data = output.get("data", "")
    if output.get("encoding") == "BASE64":
        data = base64.b64decode(data).decode("utf-8")
    try:
        answers = json.loads(data)
    except ValueError:
        return None
    if isinstance(answers, dict):
        answers = [answers]
    if not isinstance(answers, list) or len(answers) != 1:
        return None
    best = answers[0][0] if isinstance(answers[0], list) and answers[0] else answers[0]
    return best.get("label") if isinstance(best, dict) else None


def judged(captured: Iterator[tuple[str, str]], labels: dict[str, str]) -> list[tuple[str, str]]:
    """(true label, answered label) for each captured record a feedback row names."""
    pairs = []
    for _, text in captured:
        for line in text.splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            metadata = record.get("eventMetadata", {})
            true = labels.get(metadata.get("inferenceId", "")) or labels.get(metadata.get("eventId", ""))
            answered = answered_label(record) if true is not None else None
            if true is not None and answered is not None:
                pairs.append((true, answered))
    return pairs


def quality(pairs: list[tuple[str, str]]) -> dict[str, float]:
    """Accuracy, the lowest recall over the true classes present, and the number of judged answers."""
    recalls = []
    for label in sorted({true for true, _ in pairs}):
        answered = [given for true, given in pairs if true == label]
        recalls.append(sum(given == label for given in answered) / len(answered))
    return {
        "accuracy": sum(true == given for true, given in pairs) / len(pairs),
        "min_class_recall": min(recalls),
        "count": float(len(pairs)),
    }


def handler(event: dict, context) -> dict:
    s3 = boto3.client("s3")
    labels = feedback_labels(objects(s3, event["Bucket"], event["FeedbackPrefix"]), event["Fields"])
    pairs = judged(objects(s3, event["Bucket"], event["CapturePrefix"]), labels) if labels else []
    if len(pairs) < max(1, event["MinLabelled"]):
        return {"labels": len(labels), "judged": len(pairs), "figures": None}
    figures = quality(pairs)
    now = datetime.now(UTC)
    boto3.client("cloudwatch").put_metric_data(
        Namespace=event["Namespace"],
        MetricData=[
            {"MetricName": event["Metrics"][key], "Value": value, "Timestamp": now} for key, value in figures.items()
        ],
    )
    return {"labels": len(labels), "judged": len(pairs), "figures": figures}
