"""Jobs as SageMaker runs them: the model archive training leaves behind."""

from __future__ import annotations

import tarfile

from rehearsal.sagemaker.channels import pack_model_dir


def test_model_tar_gz_has_the_model_directory_at_its_root(served_model_dir, tmp_path):
    archive = pack_model_dir(served_model_dir, tmp_path / "registry" / "model.tar.gz")
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {"config.json", "model.safetensors", "labels.json", "code/inference.py"} <= names
    assert not any(name.startswith(served_model_dir.name + "/") for name in names)
