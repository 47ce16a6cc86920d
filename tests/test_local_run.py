"""`textclf local-run` building blocks: the registry's model.tar.gz layout and the report's evaluation section."""

from __future__ import annotations

import json
import tarfile

from cli import local_run


def test_model_tar_gz_has_the_model_directory_at_its_root(served_model_dir, tmp_path):
    archive = local_run.package(served_model_dir, tmp_path / "registry" / "model.tar.gz")
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {"config.json", "model.safetensors", "labels.json", "code/inference.py"} <= names
    assert not any(name.startswith(served_model_dir.name + "/") for name in names)


def test_the_report_shows_the_pipelines_own_evaluation_and_its_charts(tmp_path):
    folder = tmp_path / "rehearsal" / "jobs" / "e1" / "pipelines-e1-Evaluate" / "opt-ml" / "processing" / "evaluation"
    folder.mkdir(parents=True)
    (folder / "evaluation.json").write_text(json.dumps({"multiclass_classification_metrics": {
        "accuracy": {"value": 0.8512}, "macro_f1": {"value": 0.85}}}))
    (folder / "model_data.json").write_text(json.dumps({"sha256": "ab" * 32, "bytes": 1}))
    (folder / "confusion_matrix.png").write_bytes(b"png")
    section = "\n".join(local_run.evaluation_section(tmp_path))
    assert "| 0.8512 | 0.8500 |" in section and "ab" * 32 in section
    assert (tmp_path / "evaluation" / "confusion_matrix.png").read_bytes() == b"png"
