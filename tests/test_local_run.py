"""`textclf local-run`: the report's evaluation section, from the pipeline's own Evaluate output."""

from __future__ import annotations

import json

from cli import local_run


def test_the_report_shows_the_pipelines_own_evaluation_and_its_charts(tmp_path):
    folder = tmp_path / "rehearsal" / "jobs" / "e1" / "pipelines-e1-Evaluate" / "opt-ml" / "processing" / "evaluation"
    folder.mkdir(parents=True)
    matrix = {"negative": {"negative": 3, "positive": 1}, "positive": {"negative": 0, "positive": 4}}
    metrics = {"accuracy": {"value": 0.8512}, "macro_f1": {"value": 0.85}, "confusion_matrix": matrix}
    (folder / "evaluation.json").write_text(json.dumps({"multiclass_classification_metrics": metrics}))
    (folder / "predictions.jsonl").write_text(
        json.dumps({"source": "test.csv:2", "label": "negative", "predicted": "negative", "score": 0.9}) + "\n"
    )
    (folder / "model_data.json").write_text(json.dumps({"sha256": "ab" * 32, "bytes": 1}))
    section = "\n".join(local_run.evaluation_section(tmp_path))
    assert "| 0.8512 | 0.8500 |" in section and "ab" * 32 in section
    # Drawn when the report is written (cli/charts.py), from the step's numbers.
    for name in ("confusion_matrix.png", "confidence_histogram.png"):
        assert (tmp_path / "evaluation" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
