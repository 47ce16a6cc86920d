"""`textclf local-run` building blocks: the SageMaker-style job tree and the registry's model.tar.gz layout."""

from __future__ import annotations

import tarfile

from cli import local_run


def test_job_tree_mirrors_opt_ml(tmp_path, small_data):
    job = local_run.sagemaker_tree(tmp_path / "job", {"train": small_data["train"], "validation": small_data["validation"]})
    assert (job / "input" / "data" / "train").resolve() == small_data["train"].resolve()
    assert (job / "input" / "data" / "validation" / "validation.csv").exists()
    assert all((job / folder).is_dir() for folder in ("model", "checkpoints", "output/data"))


def test_model_tar_gz_has_the_model_directory_at_its_root(served_model_dir, tmp_path):
    archive = local_run.package(served_model_dir, tmp_path / "registry" / "model.tar.gz")
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {"config.json", "model.safetensors", "labels.json", "code/inference.py"} <= names
    assert not any(name.startswith(served_model_dir.name + "/") for name in names)


def test_resume_is_reported_from_train_py_s_own_log_line():
    log = "train: step=60 loss=0.4\nresume: step=61 epoch=0 batch=61 from /ckpt\n"
    assert local_run.resumed_line(log) == "logged `resume: step=61 epoch=0 batch=61 from /ckpt`"
    assert local_run.resumed_line("train: step=1\n") == "started from scratch (no checkpoint found)"
