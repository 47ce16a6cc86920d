"""`textclf local-run`: the report's evaluation section, from the pipeline's own Evaluate output."""

from __future__ import annotations

import json

from cli import local_run


def test_the_report_shows_the_pipelines_own_evaluation_and_its_charts(tmp_path):
    folder = tmp_path / "rehearsal" / "jobs" / "e1" / "pipelines-e1-Evaluate" / "opt-ml" / "processing" / "evaluation"
    folder.mkdir(parents=True)
    (folder / "evaluation.json").write_text(
        json.dumps({"multiclass_classification_metrics": {"accuracy": {"value": 0.8512}, "macro_f1": {"value": 0.85}}})
    )
    (folder / "model_data.json").write_text(json.dumps({"sha256": "ab" * 32, "bytes": 1}))
    (folder / "confusion_matrix.png").write_bytes(b"png")
    section = "\n".join(local_run.evaluation_section(tmp_path))
    assert "| 0.8512 | 0.8500 |" in section and "ab" * 32 in section
    assert (tmp_path / "evaluation" / "confusion_matrix.png").read_bytes() == b"png"
