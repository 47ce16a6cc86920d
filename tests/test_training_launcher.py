"""The training job's launcher, as the DLC runs it (every rehearsed job starts this way; the given-teacher test in
tests/test_rehearsal.py reads torchrun's command line from its log): sagemaker-training's `train` with the image's
SAGEMAKER_TRAINING_MODULE (the PyTorch toolkit), which starts the program under torchrun when the job sets
sagemaker_torch_distributed_enabled (rehearsal.sagemaker.training).

Several instances (issue 33): one sandbox per host on a private link, torchrun across them, as the rehearsal runs a
job with InstanceCount above 1: the same weights as one instance, and a resume after one host's interruption.

The planted defect: a setup.py in the code bundle (the training code made a package). The generic runner the
rehearsal used before installs the package and runs it; the DLC's launcher refuses it ("Python packages are not
supported for torch_distributed", sagemaker_training.torch_distributed).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
import tarfile
from pathlib import Path

import contract
import pytest
import torch
from safetensors.torch import load_file

from rehearsal.sagemaker.containers import container_env, namespaces_available, run_container, run_hosts
from rehearsal.sagemaker.context import JobContext
from rehearsal.sagemaker.training import (
    DLC_TRAINING_MODULE,
    TRAIN_ENTRY,
    host_root,
    local_hosts,
    resource_config,
    run_local_hosts,
)

pytestmark = [
    pytest.mark.skipif(not namespaces_available(), reason="no namespaces here: jobs cannot run"),
    pytest.mark.workload,
]

SETUP = "from setuptools import setup\nsetup(name='train', py_modules=['train'])\n"
# One write: the toolkit relays the program's output in the chunks it reads.
PROGRAM = "import os, sys; print(f\"program: world_size={os.environ.get('WORLD_SIZE')} args={sys.argv[1:]}\")\n"


def job_root(tmp_path: Path, files: dict[str, str]) -> Path:
    """/opt/ml as SageMaker lays it out for a script-mode job whose code arrives as a `code` channel."""
    code = tmp_path / "opt-ml" / "input" / "data" / "code"
    code.mkdir(parents=True)
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
    return host_root(
        tmp_path / "opt-ml",
        hyperparameters=hyperparameters,
        channels={"code": {"TrainingInputMode": "File"}},
        resources=resource_config(["algo-1"], 0, "ml.g5.xlarge", linked=False),
    )


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


# ---- several instances: one sandbox per host, torchrun across them --------------------------------------------
def host_roots(base: Path, model: Path, data: dict, hosts: list[str], hyperparameters: dict) -> list[Path]:
    """Each host's /opt/ml as SageMaker lays it out: every channel on every host (FullyReplicated), the code
    bundle, and a resourceconfig.json naming this host among all of them."""
    channels = {contract.TRAIN: data["train"], contract.VALIDATION: data["validation"], contract.MODEL: model}
    return local_hosts(base, count=len(hosts), channels=channels, hyperparameters=hyperparameters)


# Same global batch (16) on one host and on two hosts of 8; no dropout, whose random masks differ per rank.
HYPERPARAMETERS = {
    "labels": "negative,positive",
    "per_device_batch_size": "16",
    "epochs": "2",
    "max_length": "48",
    "log_steps": "4",
    "checkpoint_steps": "8",
    "learning_rate": "1e-3",
    "dropout": "0",
    "early_stopping_patience": "0",
}


def exported(root: Path) -> dict[str, torch.Tensor]:
    return load_file(root / "model" / "model.safetensors")


def test_two_instances_train_as_one_with_the_same_global_batch_and_resume_from_either_hosts_interruption(
    tiny_model_dir, small_data, tmp_path
):
    """Two hosts, each in its own namespaces on a private link, each with one CPU, launched by the DLC's toolkit
    (torchrun --nnodes 2 across them): the same weights as one host with the same global batch, to within what
    fp32 allows (rtol 1e-4, atol 2e-5: the gradient is the mean of two half-batch means instead of one mean, a
    different summation order, and 32 AdamW steps carry that rounding on; bit-for-bit is not promised across
    world sizes, by PyTorch's reproducibility notes, and the existing one-machine DDP test held the same bound).
    Then an interruption of algo-2 alone stops the job, and so does one of algo-1 alone after the restart;
    restarted each time on fresh hosts with the checkpoints SageMaker synced (algo-1's, the only writer), the job
    ends bit for bit where the uninterrupted two-host run did."""
    one = host_roots(tmp_path / "one", tiny_model_dir, small_data, ["algo-1"], HYPERPARAMETERS)
    codes, (log,) = run_local_hosts(one)
    assert codes == [0], log[-3000:]

    two_hosts = {**HYPERPARAMETERS, "per_device_batch_size": "8"}
    hosts = ["algo-1", "algo-2"]
    two = host_roots(tmp_path / "two", tiny_model_dir, small_data, hosts, two_hosts)
    codes, logs = run_local_hosts(two)
    assert codes == [0, 0], logs[0][-3000:] + logs[1][-3000:]
    assert "torchrun --nnodes 2 --nproc_per_node 1 --master_addr algo-1 --master_port 7777 --node_rank 1" in logs[1]
    assert "runtime: world_size=2" in logs[0]
    # Metrics, checkpoints and the model come from rank 0 on the leader only.
    assert logs[0].count("train: step=32 ") == 1 and "train: step=" not in logs[1]
    assert not (two[1] / "model" / "model.safetensors").exists() and not list((two[1] / "checkpoints").iterdir())
    single, double = exported(one[0]), exported(two[0])
    initial = load_file(tiny_model_dir / "model.safetensors")
    assert max((single[k] - initial[k]).abs().max().item() for k in single if k in initial) > 1e-3, "it trained"
    for name in single:
        assert torch.allclose(single[name], double[name], rtol=1e-4, atol=2e-5), name

    # algo-2 is reclaimed at step 12; the restart's algo-1 at step 20; the second restart runs to the end. After
    # each, SageMaker's sync has put algo-1's checkpoints (the only writer's) on every fresh host.
    previous: Path | None = None
    for attempt, reclaimed in enumerate(((1, "12"), (0, "20"), None)):
        roots = host_roots(tmp_path / f"attempt-{attempt}", tiny_model_dir, small_data, hosts, two_hosts)
        if previous is not None:
            for root in roots:
                shutil.copytree(previous / "checkpoints", root / "checkpoints", dirs_exist_ok=True)
        noticed: list[str] = []

        def reclaim(_host: int, line: str, processes, reclaimed=reclaimed, noticed=noticed) -> None:
            if reclaimed and line.startswith(f"train: step={reclaimed[1]} ") and not noticed:
                noticed.append(line)
                os.killpg(processes[reclaimed[0]].pid, signal.SIGTERM)

        codes, logs = run_local_hosts(roots, watch=reclaim)
        if attempt:
            assert "resume: step=" in logs[0], logs[0][-3000:]
        if reclaimed:
            assert noticed and all(codes) and "interrupted: SIGTERM at step=" in logs[0], logs[0][-3000:]
            assert not (roots[0] / "model" / "model.safetensors").exists()
        previous = roots[0]
    assert codes == [0, 0], logs[0][-3000:]
    expected, actual = exported(two[0]), exported(roots[0])
    for name in expected:
        assert torch.equal(expected[name], actual[name]), name


@pytest.mark.parametrize("isolated", [True, False])
def test_a_jobs_hosts_reach_each_other_and_this_machine_only_without_network_isolation(tmp_path, isolated):
    """The private link: algo-2 reaches algo-1's port, and neither reaches a port this machine listens on. Without
    network isolation the hosts share this machine's network, each at an address of its own, and reach both."""
    with socket.socket() as listener:
        listener.bind(("0.0.0.0", 0))
        listener.listen()
        port = listener.getsockname()[1]
        outside = socket.gethostbyname(socket.gethostname())
        program = (
            "import socket, sys, time\n"
            "me = socket.gethostname()\n"
            "def reach(address, port):\n"
            "    try:\n"
            "        socket.create_connection((address, port), timeout=3).close(); return 'reached'\n"
            "    except OSError as error:\n"
            "        return type(error).__name__\n"
            "if me == 'algo-1':\n"
            "    s = socket.create_server(('algo-1', 7000)); s.settimeout(20); s.accept()\n"
            "else:\n"
            "    for _ in range(100):\n"
            "        if reach('algo-1', 7000) == 'reached': print('peer: reached', flush=True); break\n"
            "        time.sleep(0.1)\n"
            f"print('outside:', reach({outside!r}, {port}), reach('127.0.0.1', {port}), flush=True)\n"
        )
        roots = [tmp_path / host / "opt-ml" for host in ("algo-1", "algo-2")]
        for root in roots:
            root.mkdir(parents=True)
        context = JobContext(cloud=None, account="1", region="us-east-1", pipeline_role="", workdir=tmp_path)  # type: ignore[arg-type]
        logs = [root.parent / "job.log" for root in roots]
        codes = run_hosts(
            context,
            roots,
            [sys.executable, "-c", program],
            container_env(context, {}, None),
            isolated=isolated,
            log_files=logs,
        )
    assert codes == [0, 0], [log.read_text() for log in logs]
    assert "peer: reached" in logs[1].read_text()
    for log in logs:
        (line,) = [line for line in log.read_text().splitlines() if line.startswith("outside:")]
        answers = line.removeprefix("outside:").split()
        assert len(answers) == 2 and all((answer == "reached") != isolated for answer in answers), line
