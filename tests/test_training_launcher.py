"""The training job's launcher, as the DLC runs it (every rehearsed job starts this way; the given-teacher test in
tests/test_rehearsal.py reads torchrun's command line from its log): sagemaker-training's `train` with the image's
SAGEMAKER_TRAINING_MODULE (the PyTorch toolkit), which starts the program under torchrun when the job sets
sagemaker_torch_distributed_enabled (rehearsal.sagemaker.training).

The planted defect: a setup.py in the code bundle (the training code made a package). The generic runner the
rehearsal used before installs the package and runs it; the DLC's launcher refuses it ("Python packages are not
supported for torch_distributed", sagemaker_training.torch_distributed).
"""

from __future__ import annotations

import json
import sys
import tarfile
from pathlib import Path

import pytest

from rehearsal.sagemaker.containers import container_env, namespaces_available, run_container
from rehearsal.sagemaker.context import JobContext
from rehearsal.sagemaker.training import DLC_TRAINING_MODULE, INSTANCE_GROUP, TRAIN_ENTRY

pytestmark = pytest.mark.skipif(not namespaces_available(), reason="no namespaces here: jobs cannot run")

SETUP = "from setuptools import setup\nsetup(name='train', py_modules=['train'])\n"
# One write: the toolkit relays the program's output in the chunks it reads.
PROGRAM = "import os, sys; print(f\"program: world_size={os.environ.get('WORLD_SIZE')} args={sys.argv[1:]}\")\n"


def job_root(tmp_path: Path, files: dict[str, str]) -> Path:
    """/opt/ml as SageMaker lays it out for a script-mode job whose code arrives as a `code` channel."""
    root = tmp_path / "opt-ml"
    config, code = root / "input" / "config", root / "input" / "data" / "code"
    for folder in (config, code, root / "model", root / "output", root / "code"):
        folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(code / "sourcedir.tar.gz", "w:gz") as bundle:
        for name, text in files.items():
            (tmp_path / name).write_text(text)
            bundle.add(tmp_path / name, arcname=name)
    hyperparameters = {
        "sagemaker_program": "train.py",
        "sagemaker_submit_directory": "/opt/ml/input/data/code/sourcedir.tar.gz",
        "sagemaker_torch_distributed_enabled": "true",
        "epochs": "1",
    }
    group = {"instance_group_name": INSTANCE_GROUP, "instance_type": "ml.g5.xlarge", "hosts": ["algo-1"]}
    resources = {
        "current_host": "algo-1",
        "current_instance_type": "ml.g5.xlarge",
        "current_group_name": INSTANCE_GROUP,
        "hosts": ["algo-1"],
        "instance_groups": [group],
        "network_interface_name": "lo",
    }
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    (config / "inputdataconfig.json").write_text(json.dumps({"code": {"TrainingInputMode": "File"}}))
    (config / "resourceconfig.json").write_text(json.dumps(resources))
    return root


def launch(tmp_path: Path, files: dict[str, str], module: str | None) -> tuple[int, str]:
    context = JobContext(cloud=None, account="1", region="us-east-1", pipeline_role="", workdir=tmp_path)  # type: ignore[arg-type]
    # The generic runner pip-installs a package: offline, with the setuptools already installed, as in the image,
    # and into a folder of the job's: the image's site-packages is this test run's own environment.
    offline = {"PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0", "PIP_TARGET": str(tmp_path / "site-packages")}
    env = container_env(context, {**offline, **({"SAGEMAKER_TRAINING_MODULE": module} if module else {})}, None)
    log = tmp_path / "job.log"
    code = run_container(
        context, job_root(tmp_path, files), [sys.executable, "-c", TRAIN_ENTRY], env, isolated=True, log_file=log
    )
    return code, log.read_text()


def test_a_code_bundle_made_a_package_runs_under_the_generic_runner_and_is_refused_by_the_dlcs(tmp_path):
    package = {
        "train.py": PROGRAM,
        "setup.py": "from setuptools import setup\nsetup(name='train', py_modules=['train'])\n",
    }
    before, _ = launch(tmp_path / "generic", package, None)
    assert before == 0, "what the rehearsal ran before accepted it"
    code, log = launch(tmp_path / "dlc", package, DLC_TRAINING_MODULE)
    assert code != 0 and "Python packages are not supported for torch_distributed" in log
