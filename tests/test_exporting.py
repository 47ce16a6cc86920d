"""The exported model directory is what the registry gets: weights, tokenizer, labels, handler code."""

from __future__ import annotations

import json

import exporting
import modeling


def test_export_carries_labels_tokenizer_weights_and_inference_code(tiny_model_dir, tmp_path, monkeypatch):
    handler = tmp_path / "inference"
    handler.mkdir()
    (handler / "inference.py").write_text("def model_fn(model_dir):\n    return model_dir\n")
    (handler / "requirements.txt").write_text("")
    (handler / "notes.md").write_text("not code")
    monkeypatch.setattr(exporting, "INFERENCE_CODE", handler)

    model = modeling.load_classifier(str(tiny_model_dir), ["negative", "positive"])
    out = exporting.export_model(
        model,
        modeling.load_tokenizer(str(tiny_model_dir)),
        ["negative", "positive"],
        tmp_path / "model",
        {"mode": "finetune"},
    )

    # The handler reads its environment names from the contract and its long-text rule from training's, so both ship
    # beside it.
    expected = ["contract.py", "inference.py", "long_text.py", "requirements.txt"]
    assert sorted(p.name for p in (out / "code").iterdir()) == expected
    assert json.loads((out / "labels.json").read_text()) == ["negative", "positive"]
    assert (out / "model.safetensors").exists() and not (out / "pytorch_model.bin").exists()
    reloaded = modeling.load_teacher(str(out))
    assert reloaded.config.id2label == {0: "negative", 1: "positive"}
    # Exported without a validation channel to fit a temperature on: the default strategy and no temperature.
    assert reloaded.config.textclf_long_text == "head_tail" and not hasattr(reloaded.config, "textclf_temperature")
    assert modeling.load_tokenizer(str(out)).get_vocab() == modeling.load_tokenizer(str(tiny_model_dir)).get_vocab()


def test_export_carries_the_real_endpoint_handler(served_model_dir):
    code = served_model_dir / "code"
    assert {"inference.py", "payloads.py", "classifier.py", "contract.py"} <= {p.name for p in code.iterdir()}
    assert "def model_fn" in (code / "inference.py").read_text()
