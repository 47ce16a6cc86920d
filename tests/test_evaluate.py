"""evaluate.py: what the gate reads, scored exactly as the endpoint serves, from a directory or model.tar.gz."""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path

import contract
import evaluate
import pytest
import torch
from conftest import ROOT
from text_data import Example

# Trains, runs jobs or serves a model: the delivery pipeline's Rehearse action runs this module, Synth does not.
pytestmark = pytest.mark.workload

# botocore's CustomerMetadataValue: letters, spaces, digits and _.:/=+-@.
METADATA_VALUE = re.compile(r"[\w\s.:/=+\-@]+")


@pytest.fixture(scope="module")
def tarred_model(tiny_model_dir, tmp_path_factory):
    archive = tmp_path_factory.mktemp("artifact") / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in tiny_model_dir.iterdir():
            tar.add(path, arcname=path.name)
    return archive.parent


def _expected_accuracy(model_dir, test_dir) -> float:
    """One text at a time through transformers, truncated at the model's own window, as the endpoint does."""
    import modeling
    import text_data

    model, tokenizer = modeling.load_teacher(str(model_dir)), modeling.load_tokenizer(str(model_dir))
    examples = text_data.read_examples(test_dir, "text", "label")
    window = model.config.max_position_embeddings
    correct = 0
    with torch.no_grad():
        for example in examples:
            encoded = tokenizer(example.text, return_tensors="pt", truncation=True, max_length=window)
            correct += int(model.eval()(**encoded).logits.argmax(-1).item() == int(example.label))
    return correct / len(examples)


@pytest.mark.parametrize("source", ["directory", "tarball"])
def test_writes_model_quality_json_and_what_the_charts_need(tiny_model_dir, tarred_model, small_data, tmp_path, source):
    model_path = tiny_model_dir if source == "directory" else tarred_model
    assert (
        evaluate.main(
            [
                "--model_path",
                str(model_path),
                "--test_dir",
                str(small_data["validation"]),
                "--output_dir",
                str(tmp_path),
            ]
        )
        == 0
    )
    quality = json.loads((tmp_path / "evaluation.json").read_text())["multiclass_classification_metrics"]
    assert quality["accuracy"]["value"] == pytest.approx(_expected_accuracy(tiny_model_dir, small_data["validation"]))
    matrix = quality["confusion_matrix"]
    assert sum(sum(row.values()) for row in matrix.values()) == 64
    assert set(quality) >= {"macro_f1", "weighted_f1", "per_class", "expected_calibration_error"}
    assert 0 < quality["accuracy"]["standard_deviation"] < 0.1
    # Every standard deviation is a number, or absent where none is known: never the string "NaN".
    deviations = [
        m["standard_deviation"] for m in quality.values() if isinstance(m, dict) and "standard_deviation" in m
    ]
    assert deviations and all(isinstance(d, float) for d in deviations)
    assert "standard_deviation" not in quality["expected_calibration_error"]
    # No charts in the container: cli/charts.py draws them from these numbers (tests/test_charts.py).
    assert not list(tmp_path.glob("*.png"))
    rows = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert sum(row["correct"] for row in rows) / len(rows) == pytest.approx(quality["accuracy"]["value"])
    # The regression baseline is the Baseline step's: evaluation writes nothing that needs the registry.
    assert not (tmp_path / "baseline.json").exists()
    gate = json.loads((tmp_path / "gate.json").read_text())
    assert gate["served"] == "fp32" and gate["accuracy"] == quality["accuracy"]["value"] == gate["fp32_accuracy"]
    recalls = {name: figures["recall"] for name, figures in quality["per_class"].items()}
    assert gate["min_class_recall"] == min(recalls.values())
    assert recalls[gate["min_class_recall_label"]] == gate["min_class_recall"]
    assert gate["teacher_floor"] == 0.0 and gate["teacher_accuracy"] is None
    assert gate["int8_verified"] == ("true" if gate["fp32_accuracy"] - gate["int8_accuracy"] <= 0.005 else "false")
    assert set(gate["metadata"]) == {"fp32_accuracy", "int8_accuracy", "min_class_recall"}
    assert all(isinstance(value, str) and value for value in gate["metadata"].values())
    # Registration reads every probe name: each is there, a probe or NO_PROBE (this random model is sure of nothing).
    assert set(gate["probes"]) == {contract.probe_metadata_name(i) for i in range(contract.PROBE_COUNT)}
    for value in gate["probes"].values():
        assert value == contract.NO_PROBE or contract.decode_probe(value)
    # The monitor's baseline: the mix and confidence of the answers written above, as registration stores them.
    baseline = json.loads((tmp_path / contract.MONITOR_BASELINE_FILE).read_text())
    labels = baseline["labels"]
    assert baseline["class_mix"] == pytest.approx([sum(r["predicted"] == n for r in rows) / 64 for n in labels])
    assert baseline["mean_score"] == pytest.approx(sum(r["score"] for r in rows) / 64, abs=1e-6)
    assert len(baseline["length"]) == contract.LENGTH_BUCKETS and sum(baseline["length"]) == pytest.approx(1.0)
    assert baseline["score_deciles"] == sorted(baseline["score_deciles"]) and len(baseline["token_deciles"]) == 9
    assert 0.0 <= baseline["truncated_share"] <= 1.0 and 0.0 <= baseline["unknown_token_share"] < 0.5
    stored = gate["monitor"]
    assert set(stored) == set(contract.MONITOR_METADATA) and all(METADATA_VALUE.fullmatch(v) for v in stored.values())
    assert contract.decode_shares(stored["MonitorClassMix"]) == pytest.approx(baseline["class_mix"], abs=1e-4)
    assert contract.decode_shares(stored["MonitorLength"]) == pytest.approx(baseline["length"], abs=1e-4)
    assert float(stored["MonitorTopScore"]) == pytest.approx(baseline["mean_score"], abs=1e-4)


def sure_answers(texts: list[str]) -> list[dict]:
    """A model that knows two words and is sure of them; unsure of anything else."""

    def one(text: str) -> dict:
        if "great" in text:
            return {"label": "positive", "score": 0.99}
        return {"label": "negative", "score": 0.95 if "awful" in text else 0.7}

    return [one(text) for text in texts]


def test_the_probe_set_is_sure_right_answers_from_every_label_in_turn_each_fitting_a_metadata_value():
    examples = [
        Example(text="a great film", label="positive", source="t"),
        Example(text="great " + "long " * 400, label="positive", source="t"),  # cut to fit, still answered surely
        Example(text="an awful film", label="negative", source="t"),
        Example(text="a dull film", label="negative", source="t"),  # right, but not sure enough
        Example(text="a great mess", label="negative", source="t"),  # wrong: never a probe
        Example(text="awful but great", label="negative", source="t"),
    ]
    answers = sure_answers([e.text for e in examples])
    served = evaluate.Scored(
        predictions=[a["label"] for a in answers],
        scores=[a["score"] for a in answers],
        correct=[a["label"] == e.label for a, e in zip(answers, examples, strict=True)],
        report={},
    )
    values = evaluate.choose_probes(sure_answers, examples, served)
    assert len(values) == contract.PROBE_COUNT
    assert all(len(v) <= contract.PROBE_VALUE_CHARACTERS and METADATA_VALUE.fullmatch(v) for v in values.values())
    probes = [contract.decode_probe(values[contract.probe_metadata_name(i)]) for i in range(contract.PROBE_COUNT)]
    first_round = probes[:2]
    assert {label for label, _ in first_round} == {"positive", "negative"}, "labels alternate"
    distinct = set(probes)
    assert {text for _, text in distinct} >= {"a great film", "an awful film"}
    assert not {"a dull film", "a great mess"} & {text for _, text in distinct}
    cut = next(text for _, text in distinct if text.startswith("great long"))
    assert len(cut) < len(examples[1].text) and examples[1].text.startswith(cut)
    assert probes == [probes[i % len(distinct)] for i in range(contract.PROBE_COUNT)], "fewer probes repeat"


def test_no_sure_right_answer_leaves_every_probe_none():
    examples = [Example(text="a dull film", label="negative", source="t")]
    served = evaluate.Scored(predictions=["negative"], scores=[0.7], correct=[True], report={})
    assert set(evaluate.choose_probes(sure_answers, examples, served).values()) == {contract.NO_PROBE}


def test_int8_is_served_and_gated_only_where_it_holds_up(tiny_model_dir, small_data, tmp_path):
    import argparse

    fp32 = evaluate.Scored([], [], [], {"accuracy": 0.900, "per_class": {"a": {"recall": 0.9}}})
    close = evaluate.Scored([], [], [], {"accuracy": 0.896, "per_class": {"a": {"recall": 0.8}}})
    far = evaluate.Scored([], [], [], {"accuracy": 0.890, "per_class": {"a": {"recall": 0.7}}})
    args = argparse.Namespace(serve="int8", min_teacher_ratio=0.97, teacher_source="")
    served, figures = evaluate.gate(fp32, close, None, args)
    assert served is close and figures["served"] == "int8" and figures["int8_verified"] == "true"
    assert figures["min_class_recall"] == 0.8, "the gate reads the recall of what is served"
    served, figures = evaluate.gate(fp32, far, None, args)
    assert served is fp32 and figures["served"] == "fp32" and figures["int8_verified"] == "false"
    assert figures["metadata"]["int8_accuracy"] == "0.8900", "both figures are recorded either way"


def test_int8_is_refused_where_it_answers_the_shift_channel_unlike_fp32_even_when_the_test_channel_holds():
    import argparse

    def answered(*labels: str) -> evaluate.Scored:
        return evaluate.Scored(list(labels), [], [], {})

    fp32 = evaluate.Scored([], [], [], {"accuracy": 0.900, "per_class": {"a": {"recall": 0.9}}})
    close = evaluate.Scored([], [], [], {"accuracy": 0.899, "per_class": {"a": {"recall": 0.9}}})
    args = argparse.Namespace(serve="int8", min_teacher_ratio=0.97, teacher_source="")
    same = ["positive"] * 99 + ["negative"]
    served, figures = evaluate.gate(fp32, close, None, args, (answered(*same), answered(*same)))
    assert served is close and figures["int8_verified"] == "true" and figures["int8_agreement"] == 1.0
    flipped = same[:98] + ["negative", "negative"]  # 99 of 100 alike: the bar itself
    served, figures = evaluate.gate(fp32, close, None, args, (answered(*same), answered(*flipped)))
    assert served is close and figures["int8_agreement"] == 0.99
    flipped = same[:97] + ["negative"] * 3
    served, figures = evaluate.gate(fp32, close, None, args, (answered(*same), answered(*flipped)))
    assert served is fp32 and figures["int8_verified"] == "false" and figures["int8_agreement"] == 0.98


def test_a_shift_channel_is_scored_with_calibration_before_and_after_and_a_marker_alone_is_no_channel(
    served_model_dir, small_data, tmp_path
):
    """The bundled long reviews as the shift channel (data/imdb_sample); then a dataset uploaded without one, whose
    shift prefix holds only the marker `textclf data upload` writes."""

    def run(shift: Path, out: Path) -> tuple[dict, dict]:
        arguments = ["--model_path", str(served_model_dir), "--test_dir", str(small_data["validation"])]
        assert evaluate.main([*arguments, "--shift_dir", str(shift), "--output_dir", str(out)]) == 0
        return json.loads((out / "evaluation.json").read_text()), json.loads((out / "gate.json").read_text())

    quality, gate = run(ROOT / "data" / "imdb_sample", tmp_path / "with")
    shift = quality[contract.SHIFT]["multiclass_classification_metrics"]
    assert sum(sum(row.values()) for row in shift["confusion_matrix"].values()) == 100
    for figures in (shift, quality["multiclass_classification_metrics"]):
        assert {"expected_calibration_error", "expected_calibration_error_uncalibrated", "temperature"} <= set(figures)
    assert 0.0 <= gate["int8_agreement"] <= 1.0
    assert gate["int8_verified"] == ("true" if gate["fp32_accuracy"] - gate["int8_accuracy"] <= 0.005
                                     and gate["int8_agreement"] >= 0.99 else "false")  # fmt: skip
    (tmp_path / "marker").mkdir()
    (tmp_path / "marker" / contract.NO_SHIFT_FILE).write_bytes(contract.NO_SHIFT_BODY)
    quality, gate = run(tmp_path / "marker", tmp_path / "without")
    assert contract.SHIFT not in quality and gate["int8_agreement"] is None


def test_a_teacher_sets_the_floor_and_its_lineage_is_recorded(tiny_model_dir, tarred_model, small_data, tmp_path):
    assert (
        evaluate.main(
            [
                "--model_path",
                str(tarred_model),
                "--teacher_path",
                str(tiny_model_dir),
                "--teacher_source",
                "arn:aws:sagemaker:us-east-1:111122223333:model-package/textclf-dev/3",
                "--min_teacher_ratio",
                "0.5",
                "--test_dir",
                str(small_data["validation"]),
                "--output_dir",
                str(tmp_path),
            ]
        )
        == 0
    )
    gate = json.loads((tmp_path / "gate.json").read_text())
    assert gate["teacher_floor"] == pytest.approx(0.5 * gate["teacher_accuracy"])
    assert gate["metadata"]["teacher_source"].endswith("model-package/textclf-dev/3")
    teacher = json.loads((tmp_path / "evaluation.json").read_text())["teacher"]
    assert teacher["multiclass_classification_metrics"]["accuracy"]["value"] == gate["teacher_accuracy"]
    assert teacher["source"] == gate["metadata"]["teacher_source"]


def test_a_teacher_ratio_that_is_no_fraction_is_refused_by_name(tmp_path, small_data, capsys):
    with pytest.raises(SystemExit):
        evaluate.main(["--min_teacher_ratio", "97", "--test_dir", str(small_data["validation"])])
    assert "MinTeacherRatio" in capsys.readouterr().err


@pytest.fixture(scope="module")
def minilm_classifier(tmp_path_factory):
    """The packaged MiniLM with a seeded head, exported as training exports: a 512-token window, so texts
    longer than any training --max_length reach the part of the window only serving used to see."""
    import modeling
    from conftest import minilm_path
    from exporting import export_model
    from transformers import AutoTokenizer

    torch.manual_seed(0)
    model = modeling.load_classifier(str(minilm_path()), ["negative", "positive"])
    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    return export_model(model, tokenizer, ["negative", "positive"], tmp_path_factory.mktemp("minilm") / "model", {})


def test_evaluation_gives_the_endpoints_answers_for_the_same_texts_long_ones_included(
    minilm_classifier, small_data, tmp_path
):
    from rehearsal.sagemaker.channels import pack_model_dir
    from rehearsal.sagemaker.local_endpoint import LocalEndpoint, free_port, invoke

    served_model_dir = minilm_classifier
    rows = (small_data["validation"] / "validation.csv").read_text().splitlines()
    long_texts = [
        "a moving , funny and wise film . " * 120,
        "dull , " * 700 + "but a triumph in the end",
        "the first act works ; " + "the rest does not , " * 200,
    ]
    test_dir = tmp_path / "test"
    test_dir.mkdir()
    (test_dir / "test.csv").write_text("\n".join(rows + [f'"{text}",1' for text in long_texts]) + "\n")
    archive = pack_model_dir(served_model_dir, tmp_path / "artifact" / "model.tar.gz")
    assert (
        evaluate.main(
            ["--model_path", str(archive.parent), "--test_dir", str(test_dir), "--output_dir", str(tmp_path / "out")]
        )
        == 0
    )
    evaluated = [json.loads(line) for line in (tmp_path / "out" / "predictions.jsonl").read_text().splitlines()]
    texts = [example.text for example in evaluate.text_data.read_examples(test_dir, "text", "label")]
    assert len(evaluated) == len(texts) == 67
    served = []
    with LocalEndpoint(archive, port=free_port(), workers=1) as endpoint:
        for start in range(0, len(texts), 32):  # a client's requests, not one batch of everything
            status, body = invoke(endpoint.url, json.dumps({"inputs": texts[start : start + 32]}))
            assert status == 200, body
            served += json.loads(body)
    assert [answer["label"] for answer in served] == [row["predicted"] for row in evaluated]
    assert [answer["score"] for answer in served] == pytest.approx([row["score"] for row in evaluated], abs=1e-5)
    # The long texts were scored on their first 512 tokens by both, not on a training-time cut.
    cut = evaluate.TextClassifier.load(served_model_dir, quantize="none")
    assert cut.max_length == 512
    from payloads import Request

    shorter = cut.predict(Request(texts=texts[-3:], max_length=128))
    assert [a["score"] for a in shorter] != pytest.approx([row["score"] for row in evaluated[-3:]], abs=1e-5)


def test_missing_model_says_what_to_point_at(tmp_path, small_data):
    import archives

    with pytest.raises(archives.ArchiveError, match="holds neither a model directory"):
        evaluate.main(
            [
                "--model_path",
                str(tmp_path),
                "--test_dir",
                str(small_data["validation"]),
                "--output_dir",
                str(tmp_path / "out"),
            ]
        )
