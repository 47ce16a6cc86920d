"""`textclf data validate` / `upload`: bad files are named with their row and fix and nothing is uploaded; a good
upload lands where the channels read, under the stage key, and starts exactly one execution."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from moto.events.models import EventPattern

from cli import dataset, pipeline_ops
from cli.main import main
from training import contract

HEADER = "text,label\n"
GOOD = {
    "train": HEADER + "a fine film,positive\na dull film,negative\nloved it,positive\nhated it,negative\n",
    "validation": HEADER + "great,positive\nawful,negative\n",
    "test": HEADER + "superb,positive\npoor,negative\n",
}


def write(folder: Path, contents: dict[str, str | bytes]) -> dict[str, Path]:
    paths = {}
    for split, content in contents.items():
        path = folder / f"{split}.csv"
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        paths[split] = path
    return paths


def args_for(paths: dict[str, Path], *extra: str) -> list[str]:
    return [part for split, path in paths.items() for part in (f"--{split}", str(path))] + list(extra)


BAD = {  # case: (files changed, where, problem, fix)
    "wrong columns": ({"train": "sentence,label\nhi,positive\n"}, "train.csv:2", "no 'text' or 'label'", "rename"),
    "unknown label": ({"train": GOOD["train"] + "meh,neutral\n"}, "train.csv:6", "label 'neutral'", "--labels"),
    "empty text": ({"train": GOOD["train"] + ",positive\n"}, "train.csv:6", "empty text", "fill in the text"),
    "NaN text": ({"train": GOOD["train"] + "NaN,negative\n"}, "train.csv:6", "empty text ('NaN')", "drop the row"),
    "split missing a class": ({"test": HEADER + "superb,positive\n"}, "test.csv", "no row of class", "re-split"),
    "leakage": ({"test": HEADER + "superb,positive\nA  dull film,negative\n"}, "test.csv:3", "leakage", "remove it"),
    "invalid UTF-8": (
        {"validation": HEADER.encode() + b"caf\xe9,positive\nawful,negative\n"},
        "validation.csv:2",
        "not valid UTF-8",
        "save the file as UTF-8",
    ),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_each_bad_file_is_named_with_its_row_and_fix_and_nothing_is_uploaded(
    case, deployed_stage, tmp_path, capsys, monkeypatch
):
    change, where, problem, fix = BAD[case]
    paths = write(tmp_path, {**GOOD, **change})
    assert main(["data", "validate", *args_for(paths, "--labels", "negative,positive")]) == 2
    errors = [line for line in capsys.readouterr().out.splitlines() if line.startswith("error:")]
    assert any(where in line and problem in line and "Fix:" in line and fix in line for line in errors), errors
    monkeypatch.setattr(pipeline_ops, "stage_outputs", lambda config: pytest.fail("an invalid dataset reached AWS"))
    assert main(["data", "upload", "--stage", "dev", *args_for(paths, "--labels", "negative,positive")]) == 2
    s3 = deployed_stage[0].client("s3")
    assert s3.list_objects_v2(Bucket="dev-datasets").get("KeyCount", 0) == 0


def test_json_lines_files_are_read_as_the_jobs_read_them(tmp_path, capsys):
    """.jsonl and .json are JSON Lines to the training job (contract.DATA_SUFFIXES), so to validation too."""
    lines = [{"text": "a fine film", "label": "positive"}, {"text": "a dull film", "label": "negative"}]
    path = tmp_path / "train.json"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    assert main(["data", "validate", "--train", str(path)]) == 0
    assert "train            2 rows" in capsys.readouterr().out


def test_a_good_dataset_validates_with_a_report(tmp_path, capsys):
    assert main(["data", "validate", *args_for(write(tmp_path, GOOD))]) == 0
    out = capsys.readouterr().out
    assert "train            4 rows" in out and "negative=2, positive=2" in out and "0 error(s)" in out


def test_one_upload_replaces_the_splits_under_the_stage_key_and_starts_exactly_one_execution(deployed_stage, tmp_path):
    session, key = deployed_stage
    s3 = session.client("s3")
    s3.put_object(Bucket="dev-datasets", Key="datasets/train/old.csv", Body=b"text,label\nold,positive\n")
    puts: list[str] = []
    s3.meta.events.register("provide-client-params.s3.PutObject", lambda params, **_: puts.append(params["Key"]))
    paths = write(tmp_path, GOOD)
    keys = dataset.upload(s3, "s3://dev-datasets/datasets/", key, paths, "v1", ["negative", "positive"])
    assert keys == puts and puts[-1] == "datasets/manifest.json", "the manifest goes last"
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket="dev-datasets")["Contents"]}
    assert "datasets/train/old.csv" not in listed and {"datasets/train/train.csv", "datasets/test/test.csv"} <= listed
    assert s3.head_object(Bucket="dev-datasets", Key="datasets/train/train.csv")["SSEKMSKeyId"] == key
    assert s3.get_object(Bucket="dev-datasets", Key="datasets/train/DATASET_VERSION")["Body"].read() == b"v1"
    manifest = json.loads(s3.get_object(Bucket="dev-datasets", Key="datasets/manifest.json")["Body"].read())
    assert manifest["version"] == "v1" and set(manifest["splits"]) == {"train", "validation", "test"}
    # No shift split: evaluation's shift input still finds an object, and no data in it.
    assert {o["Key"] for o in s3.list_objects_v2(Bucket="dev-datasets", Prefix="datasets/shift/")["Contents"]} == {
        f"datasets/shift/{contract.NO_SHIFT_FILE}"
    }
    # The deployed trigger, as synthesized, against S3's "Object Created" event for every object written.
    trigger = EventPattern.load(json.dumps(_trigger_pattern("dev-datasets")))
    started = [k for k in puts if trigger.matches_event(_object_created("dev-datasets", k))]
    assert started == ["datasets/manifest.json"]


def test_a_shift_split_is_validated_with_the_others_and_replaces_the_marker(deployed_stage, tmp_path, capsys):
    session, key = deployed_stage
    s3 = session.client("s3")
    paths = write(tmp_path, GOOD)
    dataset.upload(s3, "s3://dev-datasets/datasets/", key, paths, "v1", None)
    shift = tmp_path / "reviews.csv"
    shift.write_text("text,label\na long review that ends well,positive\na long review that ends badly,negative\n")
    args = [*args_for(paths), "--shift", str(shift)]
    assert main(["data", "upload", "--stage", "dev", *args]) == 0
    assert "shift            2 rows" in capsys.readouterr().out
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket="dev-datasets", Prefix="datasets/shift/")["Contents"]}
    assert listed == {"datasets/shift/reviews.csv"}
    shift.write_text("text,label\na dull film,neutral\n")
    assert main(["data", "validate", *args]) == 2
    assert "shift            1 rows" in (out := capsys.readouterr().out) and "no row of class 'neutral'" in out


def test_validate_reports_each_splits_token_lengths_and_the_training_length_they_give(tmp_path, capsys):
    assert main(["data", "validate", *args_for(write(tmp_path, GOOD))]) == 0
    out = capsys.readouterr().out
    lengths = r"^train +tokens p50=\d+ p90=\d+ p95=\d+ p99=\d+ max=\d+  cut >64=0\.0% .* training length \d+$"
    assert re.search(lengths, out, re.M)
    assert main(["data", "validate", *args_for(write(tmp_path, GOOD)), "--tokenizer", "none"]) == 0
    assert "tokens p50" not in capsys.readouterr().out
    assert main(["data", "validate", *args_for(write(tmp_path, GOOD)), "--tokenizer", str(tmp_path)]) == 2
    assert "holds no tokenizer_config.json. Fix: pass the base model's directory" in capsys.readouterr().err


def test_upload_through_the_cli_finds_the_stage_from_its_stack_outputs(deployed_stage, tmp_path, capsys):
    assert main(["data", "upload", "--stage", "dev", *args_for(write(tmp_path, GOOD))]) == 0
    assert "starts one execution" in capsys.readouterr().out
    session, _ = deployed_stage
    assert session.client("s3").head_object(Bucket="dev-datasets", Key="datasets/manifest.json")


def _trigger_pattern(bucket: str) -> dict:
    """The data rule of tests/test_training_pipeline.py's pipeline, with the bucket's Ref as deployed."""
    from test_training_pipeline import triggered_pipeline_template

    rules = triggered_pipeline_template().find_resources("AWS::Events::Rule")
    (pattern,) = [r["Properties"]["EventPattern"] for r in rules.values() if "EventPattern" in r["Properties"]]
    pattern["detail"]["bucket"]["name"] = [bucket]
    return pattern


def _object_created(bucket: str, key: str) -> dict:
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "111122223333",
        "time": "2026-11-24T07:00:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {"version": "0", "bucket": {"name": bucket}, "object": {"key": key, "size": 10}},
    }


def _errors(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("error:")]


def test_a_csv_with_a_byte_order_mark_validates(tmp_path, capsys):
    """Excel's "CSV UTF-8" starts the file with a BOM: it is no part of the 'text' column's name."""
    paths = write(tmp_path, {split: b"\xef\xbb\xbf" + text.encode() for split, text in GOOD.items()})
    assert main(["data", "validate", *args_for(paths)]) == 0
    out = capsys.readouterr().out
    assert "train            4 rows" in out and "negative=2, positive=2" in out and "0 error(s)" in out


@pytest.mark.parametrize(("separator", "named"), [("\t", "tabs"), (";", "semicolons")])
def test_a_csv_separated_otherwise_is_one_error_naming_the_separator(tmp_path, capsys, separator, named):
    csv = {split: text.replace("text,label", "review,stars") for split, text in GOOD.items()}
    paths = write(tmp_path, {**csv, "train": csv["train"].replace(",", separator)})
    assert main(["data", "validate", *args_for(paths, "--text-column", "review", "--label-column", "stars")]) == 2
    assert _errors(capsys.readouterr().out) == [
        f"error: {paths['train']}:2: one column, {f'review{separator}stars'!r}: the fields are separated by "
        f"{named}, not commas. Fix: save it comma-separated, with the header review,stars"
    ]


@pytest.mark.parametrize("labels", [[], ["--labels", "negative,positive"]], ids=["no --labels", "--labels"])
def test_labels_mixing_ids_and_names_are_refused_at_the_stray_row(tmp_path, capsys, labels):
    train = HEADER + "a fine film,1\na dull film,0\nloved it,positive\nhated it,0\nfine again,1\n"
    paths = write(tmp_path, {**GOOD, "train": train})
    assert main(["data", "validate", *args_for(paths, *labels)]) == 2
    assert (
        f"error: {paths['train']}:4: label 'positive' is a name among integer ids (1, 0): ids and names mixed. "
        "Fix: write every label the same way, all as ids or all as names"
    ) in _errors(capsys.readouterr().out)


def test_the_same_file_as_two_splits_is_one_error_not_a_leakage_per_row(tmp_path, capsys):
    paths = write(tmp_path, GOOD)
    given = {**paths, "test": paths["validation"]}
    assert main(["data", "validate", *args_for(given)]) == 2
    assert _errors(capsys.readouterr().out) == [
        f"error: {paths['validation']}: given as both --validation and --test. "
        "Fix: give --test a file of its own, with none of the validation texts"
    ]
    copied = {"test": tmp_path / "copy.csv"}
    copied["test"].write_bytes(paths["validation"].read_bytes())
    assert main(["data", "validate", *args_for({**paths, **copied})]) == 2
    assert _errors(capsys.readouterr().out) == [
        f"error: {copied['test']}: the same content as --validation ({paths['validation']}). "
        "Fix: give --test a file of its own, with none of the validation texts"
    ]


def test_with_labels_the_report_counts_each_class_by_its_name(tmp_path, capsys):
    ids = {split: text.replace("negative", "0").replace("positive", "1") for split, text in GOOD.items()}
    paths = write(tmp_path, ids)
    assert main(["data", "validate", *args_for(paths, "--labels", "negative,positive", "--tokenizer", "none")]) == 0
    lines = capsys.readouterr().out.splitlines()[:3]
    counts = [line.split(f"{path}  ")[1] for path, line in zip(paths.values(), lines, strict=True)]
    assert counts == ["negative=2, positive=2", "negative=1, positive=1", "negative=1, positive=1"]
