"""`textclf feedback upload`: a labels file is checked whole, each problem naming file, row and fix, before one JSON
Lines object goes to the stage's feedback prefix under its data key."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from cli import feedback, pipeline_ops
from cli.main import main


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "f.csv",
            "inference_id,label\na,positive\na,negative\n",
            "f.csv:3: inference_id 'a' is labelled again (first on line 2)",
        ),
        ("f.csv", "inference_id,label\na,postive\n", "f.csv:2: label 'postive' is none of negative, positive"),
        ("f.csv", "id,label\na,positive\n", "f.csv:2: no 'inference_id' or 'label' field (has ['id', 'label'])"),
        ("f.jsonl", '{"inference_id": "a", "label": ""}\n', "f.jsonl:1: empty label"),
        ("f.csv", "inference_id,label\n", "f.csv: no rows"),
        ("f.txt", "a,positive\n", "f.txt: unsupported file type '.txt'"),
    ],
)
def test_every_problem_names_the_file_the_row_and_the_fix(tmp_path, name, text, expected):
    rows, findings = feedback.read_feedback(
        write(tmp_path, name, text), id_column="inference_id", label_column="label", labels=["negative", "positive"]
    )
    assert any(expected in str(finding) for finding in findings), [str(f) for f in findings]
    assert all("Fix:" in str(finding) for finding in findings)


@mock_aws
def test_a_good_file_goes_to_the_feedback_prefix_as_json_lines_under_the_data_key(tmp_path, monkeypatch, capsys):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="data")
    key = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
    outputs = {"FeedbackUri": "s3://data/feedback/", "DataKeyArn": key}
    monkeypatch.setattr(pipeline_ops, "stage_outputs", lambda config: outputs)
    path = write(tmp_path, "labels.csv", "request,truth\nr-1,positive\nr-2,negative\n")
    argv = ["feedback", "upload", str(path), "--stage", "dev", "--id-column", "request", "--label-column", "truth"]
    assert main(argv) == 0
    (item,) = s3.list_objects_v2(Bucket="data", Prefix="feedback/")["Contents"]
    stored = s3.get_object(Bucket="data", Key=item["Key"])
    assert stored["ServerSideEncryption"] == "aws:kms" and stored["SSEKMSKeyId"] == key
    lines = [json.loads(line) for line in stored["Body"].read().decode().splitlines()]
    assert lines == [{"inference_id": "r-1", "label": "positive"}, {"inference_id": "r-2", "label": "negative"}]
    assert "2 labels -> s3://data/feedback/" in capsys.readouterr().out


def test_a_bad_file_uploads_nothing_and_exits_2(tmp_path, monkeypatch, capsys):
    def no_stage(config):
        raise AssertionError("a bad file must not reach the stage")

    monkeypatch.setattr(pipeline_ops, "stage_outputs", no_stage)
    path = write(tmp_path, "labels.csv", "inference_id,label\na,positive\na,negative\n")
    assert main(["feedback", "upload", str(path), "--stage", "dev"]) == 2
    assert "Nothing uploaded." in capsys.readouterr().err


def test_labels_are_read_as_data_validate_reads_them_and_stored_as_the_names_the_endpoint_answers(tmp_path):
    """With --labels, SST-2's 0 and 1 are ids, as in `textclf data validate`; the late-label function compares the
    stored label with the endpoint's answer, a name, so the id is stored as its name."""
    path = write(tmp_path, "f.csv", "\ufeffinference_id,label\na,0\nb,1\nc,positive\n")
    read = dict(id_column="inference_id", label_column="label", labels=["negative", "positive"])
    rows, findings = feedback.read_feedback(path, **read)
    assert [str(f) for f in findings] == [
        f"error: {path}:4: label 'positive' is a name among integer ids (0, 1): ids and names mixed. "
        "Fix: write every label the same way, all as ids or all as names"
    ]
    path.write_text("inference_id,label\na,0\nb,1\n")
    assert feedback.read_feedback(path, **read) == ({"a": "negative", "b": "positive"}, [])
