"""`textclf charts`: the evaluation's charts say what they show: title, axes, class names, counts, shares, legend."""

from __future__ import annotations

import json
import struct

import pytest

from cli import charts

NAMES = ["negative", "positive"]
QUALITY = {
    "multiclass_classification_metrics": {
        "accuracy": {"value": 0.85, "standard_deviation": 0.02},
        "confusion_matrix": {"negative": {"negative": 40, "positive": 10}, "positive": {"negative": 5, "positive": 45}},
    }
}
PREDICTIONS = [
    {"source": f"test.csv:{i}", "label": NAMES[i % 2], "predicted": NAMES[(i // 7) % 2], "score": 0.5 + (i % 50) / 100}
    for i in range(100)
]

pytest.importorskip("matplotlib")


def texts(figure) -> list[str]:
    found = [t.get_text() for axes in figure.axes for t in axes.texts]
    for axes in figure.axes:
        found += [axes.get_title(), axes.get_xlabel(), axes.get_ylabel()]
        found += [t.get_text() for t in axes.get_xticklabels() + axes.get_yticklabels()]
        legend = axes.get_legend()
        found += [t.get_text() for t in legend.get_texts()] if legend else []
    return found


def test_the_confusion_matrix_names_classes_and_axes_and_shows_counts_and_shares():
    found = texts(charts.confusion_matrix_figure(QUALITY))
    assert "Confusion matrix: 100 examples, accuracy 85.0%\n(count, share of the true class)" in found
    assert {"predicted class", "true class", "examples"} <= set(found)
    assert found.count("negative") == 2 and found.count("positive") == 2, "class names on both axes"
    assert {"40\n80%", "10\n20%", "5\n10%", "45\n90%"} <= set(found)


def test_the_confidence_histogram_has_axes_and_a_legend_of_right_and_wrong():
    right = sum(p["predicted"] == p["label"] for p in PREDICTIONS)
    found = texts(charts.confidence_histogram_figure(PREDICTIONS))
    assert f"correct ({right})" in found and f"wrong ({100 - right})" in found
    assert "Confidence of 100 predictions, correct vs wrong" in found
    assert {"confidence of the served prediction (top score)", "examples"} <= set(found)


def test_the_reliability_panel_shows_the_served_and_the_uncalibrated_scores_with_their_errors():
    """Two answers at 0.95 (one right) and two at 0.65 (both right): ECE |0.95-0.5|/2 + |0.65-1|/2 = 0.4; without the
    temperature they were all 0.99 (3 of 4 right): ECE 0.24."""
    rows = [
        {"label": "1", "predicted": "positive", "score": score, "uncalibrated_score": 0.99, "correct": correct}
        for score, correct in ((0.95, True), (0.95, False), (0.65, True), (0.65, True))
    ]
    found = texts(charts.confidence_histogram_figure(rows))
    assert {"served (calibrated): ECE 0.400", "without the temperature: ECE 0.240", "perfectly calibrated"} <= set(
        found
    )
    assert {"Reliability: share correct at each confidence", "share correct"} <= set(found)
    older = texts(
        charts.confidence_histogram_figure([{k: v for k, v in r.items() if k != "uncalibrated_score"} for r in rows])
    )
    assert not any(text.startswith("without the temperature") for text in older), "an older evaluation has one curve"


def test_data_that_spells_labels_as_ids_is_counted_by_evaluates_own_verdict():
    """SST-2 labels are 0/1 while the model answers names: comparing the two strings would call every answer wrong."""
    rows = [{"label": "1", "predicted": "positive", "score": 0.9, "correct": True}] * 3
    rows += [{"label": "0", "predicted": "positive", "score": 0.6, "correct": False}]
    assert {"correct (3)", "wrong (1)"} <= set(texts(charts.confidence_histogram_figure(rows)))


def test_draw_writes_both_pngs_from_an_evaluation_folder(tmp_path):
    (tmp_path / "evaluation.json").write_text(json.dumps(QUALITY))
    (tmp_path / "predictions.jsonl").write_text("\n".join(json.dumps(p) for p in PREDICTIONS) + "\n")
    for path in charts.draw(tmp_path, tmp_path / "out"):
        header = path.read_bytes()[:24]
        assert header[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", header[16:24])
        assert width >= 400 and height >= 300, (path.name, width, height)
