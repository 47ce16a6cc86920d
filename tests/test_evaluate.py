"""evaluate.py: SageMaker model-quality JSON and chart PNGs from a model directory or model.tar.gz."""

from __future__ import annotations

import json
import struct
import tarfile
import zlib

import pytest
import torch

import evaluate


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    idat = data[data.index(b"IDAT") + 4:data.index(b"IEND") - 8]
    assert len(zlib.decompress(idat)) == height * (1 + 3 * width), "pixel data must decode to the declared size"
    return width, height


@pytest.fixture(scope="module")
def tarred_model(tiny_model_dir, tmp_path_factory):
    archive = tmp_path_factory.mktemp("artifact") / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in tiny_model_dir.iterdir():
            tar.add(path, arcname=path.name)
    return archive.parent


def _expected_accuracy(model_dir, test_dir) -> float:
    import modeling
    import text_data

    model, tokenizer = modeling.load_teacher(str(model_dir)), modeling.load_tokenizer(str(model_dir))
    examples = text_data.read_examples(test_dir, "text", "label")
    correct = 0
    with torch.no_grad():
        for example in examples:
            logits = model.eval()(**tokenizer(example.text, return_tensors="pt")).logits
            correct += int(logits.argmax(-1).item() == int(example.label))
    return correct / len(examples)


@pytest.mark.parametrize("source", ["directory", "tarball"])
def test_writes_model_quality_json_and_charts(tiny_model_dir, tarred_model, small_data, tmp_path, source):
    model_path = tiny_model_dir if source == "directory" else tarred_model
    assert evaluate.main(["--model_path", str(model_path), "--test_dir", str(small_data["validation"]),
                          "--output_dir", str(tmp_path), "--batch_size", "7"]) == 0
    quality = json.loads((tmp_path / "evaluation.json").read_text())["multiclass_classification_metrics"]
    assert quality["accuracy"]["value"] == pytest.approx(_expected_accuracy(tiny_model_dir, small_data["validation"]))
    matrix = quality["confusion_matrix"]
    assert sum(sum(row.values()) for row in matrix.values()) == 64
    assert set(quality) >= {"macro_f1", "weighted_f1", "per_class", "expected_calibration_error"}
    assert 0 < quality["accuracy"]["standard_deviation"] < 0.1
    assert _png_size(tmp_path / "confusion_matrix.png") == (130, 130)
    assert _png_size(tmp_path / "confidence_histogram.png")[0] > 0
    # Without a registry group there is no approved model to compare with: only the threshold applies.
    assert json.loads((tmp_path / "baseline.json").read_text())["minimum_accuracy"] == 0.0


def test_missing_model_says_what_to_point_at(tmp_path, small_data):
    with pytest.raises(FileNotFoundError, match="neither a model directory"):
        evaluate.main(["--model_path", str(tmp_path), "--test_dir", str(small_data["validation"]),
                       "--output_dir", str(tmp_path / "out")])


def test_calibration_error_of_a_perfectly_calibrated_model_is_zero():
    confidence = torch.tensor([0.75] * 4)
    correct = torch.tensor([True, True, True, False])
    assert evaluate.expected_calibration_error(confidence, correct) == pytest.approx(0.0)
