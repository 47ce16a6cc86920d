"""Quality from late labels: the construct a capturing realtime endpoint gets, and its function run against S3 and
CloudWatch (moto) on captured records as SageMaker writes them."""

from __future__ import annotations

import base64
import json

import boto3
import pytest
from aws_cdk.assertions import Match, Template
from moto import mock_aws
from test_realtime import SETTINGS, serve

from stacks.functions.label_quality import index
from stacks.monitor_settings import LABELLED, QualityFloors


def served(*, feedback: bool) -> Template:
    return serve(feedback=feedback, quality_floors=QualityFloors(accuracy=0.9, class_recall=0.8))


def joined(value) -> str:
    """A template string, its tokens (the bucket's name) as BUCKET."""
    if isinstance(value, str):
        return value
    separator, parts = value["Fn::Join"]
    return separator.join(part if isinstance(part, str) else "BUCKET" for part in parts)


def test_a_capturing_endpoint_is_judged_daily_against_late_labels_under_the_gates_floors():
    template = served(feedback=True)
    (rule,) = template.find_resources(
        "AWS::Events::Rule", {"Properties": {"ScheduleExpression": "rate(1 day)"}}
    ).values()
    handed = json.loads(joined(rule["Properties"]["Targets"][0]["Input"]))
    assert handed["CapturePrefix"] == "data-capture/textclf-prod/" and handed["FeedbackPrefix"] == "feedback/"
    assert handed["Metrics"] == LABELLED and handed["MinLabelled"] == SETTINGS["monitor"].min_requests
    alarms = {
        a["Properties"]["MetricName"]: a["Properties"]
        for a in template.find_resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"]["MetricName"] in LABELLED.values()
    }
    assert {name: a["Threshold"] for name, a in alarms.items()} == {
        "LabelledAccuracy": 0.9,
        "LabelledMinClassRecall": 0.8,
    }
    assert all(a["ComparisonOperator"] == "LessThanThreshold" and a["Period"] == 86400 for a in alarms.values())
    # The function reads the two prefixes and nothing else of the bucket.
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Action": "s3:ListBucket", "Condition": {"StringLike": {"s3:prefix": ["feedback/*"]}}}
                        )
                    ]
                )
            }
        },
    )
    assert not served(feedback=False).find_resources(
        "AWS::Events::Rule", {"Properties": {"ScheduleExpression": "rate(1 day)"}}
    )


def record(output: str | bytes, *, inference_id: str | None = None, event_id: str = "e", encoding: str = "JSON") -> str:
    data = base64.b64encode(output).decode() if encoding == "BASE64" else output
    metadata = {"eventId": event_id, **({"inferenceId": inference_id} if inference_id else {})}
    return json.dumps(
        {"captureData": {"endpointOutput": {"data": data, "encoding": encoding}}, "eventMetadata": metadata}
    )


@pytest.mark.parametrize(
    ("output", "encoding", "label"),
    [
        ('[{"label": "positive", "score": 0.9}]', "JSON", "positive"),
        ('{"label": "negative", "score": 0.6}', "JSON", "negative"),
        ('[[{"label": "negative", "score": 0.7}, {"label": "positive", "score": 0.3}]]', "JSON", "negative"),
        (b'[{"label": "positive", "score": 0.9}]', "BASE64", "positive"),
        ('[{"label": "positive", "score": 0.9}, {"label": "negative", "score": 0.8}]', "JSON", None),
        ("not json", "JSON", None),
    ],
    ids=["one answer", "single object", "ranked", "base64", "two texts: not judged", "unreadable"],
)
def test_the_answer_of_a_captured_record_is_read_as_the_handler_wrote_it(output, encoding, label):
    assert index.answered_label(json.loads(record(output, encoding=encoding))) == label


def test_recall_is_the_lowest_over_the_true_classes_and_accuracy_over_all_answers():
    pairs = [("positive", "positive")] * 3 + [("positive", "negative")] + [("negative", "negative")] * 4
    assert index.quality(pairs) == {"accuracy": 7 / 8, "min_class_recall": 0.75, "count": 8.0}


@mock_aws
def test_the_function_joins_by_inference_id_or_event_id_later_files_win_and_too_few_answers_publish_nothing(
    monkeypatch,
):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # Lambda sets the function's region
    s3_client = boto3.client("s3", region_name="us-east-1")
    s3_client.create_bucket(Bucket="data")
    answer = '[{"label": "positive", "score": 0.9}]'
    captured = "\n".join(
        [record(answer, inference_id="r1", event_id="e1"), record(answer, event_id="e2"), record(answer, event_id="e3")]
    )
    s3_client.put_object(Bucket="data", Key="data-capture/textclf-prod/AllTraffic/2026/12/06/10/a.jsonl", Body=captured)
    put = lambda key, rows: s3_client.put_object(  # noqa: E731
        Bucket="data",
        Key=key,
        Body="".join(json.dumps({"inference_id": i, "label": label}) + "\n" for i, label in rows),
    )
    put("feedback/20261206T100000Z-a.jsonl", [("r1", "negative"), ("e2", "positive")])
    put("feedback/20261206T110000Z-b.jsonl", [("r1", "positive")])  # a later file corrects r1
    event = {
        "Bucket": "data",
        "CapturePrefix": "data-capture/textclf-prod/",
        "FeedbackPrefix": "feedback/",
        "Namespace": "textclf-prod/Serving",
        "MinLabelled": 2,
        "Fields": {"id": "inference_id", "label": "label"},
        "Metrics": LABELLED,
    }
    answer_ = index.handler(event, None)
    assert answer_ == {"labels": 2, "judged": 2, "figures": {"accuracy": 1.0, "min_class_recall": 1.0, "count": 2.0}}
    published = boto3.client("cloudwatch", region_name="us-east-1").list_metrics(Namespace="textclf-prod/Serving")
    assert {m["MetricName"] for m in published["Metrics"]} == set(LABELLED.values())
    assert index.handler({**event, "MinLabelled": 3}, None)["figures"] is None
