"""A job's container on this machine: its own ``/opt/ml`` and, when isolated, its own network.

The process runs in a private mount namespace (``unshare``) with the job's folder bound over ``/opt/ml``, so
container code sees exactly the paths it sees on SageMaker and ``ContainerEntrypoint`` runs verbatim. A job with
``EnableNetworkIsolation`` also gets a network namespace of its own (loopback only) and no credentials: any AWS call
from inside fails as it does on AWS. Otherwise the job gets its role's credentials, and its AWS calls go through the
IAM-enforcing gateway.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from rehearsal.sagemaker.context import JobContext

OPT_ML = Path("/opt/ml")


def container_command(job_root: Path, command: list[str], *, isolated: bool) -> list[str]:
    """``command`` inside private mount and host-name namespaces, with ``job_root`` as /opt/ml and algo-1 as the
    host name (and no network if isolated).

    As root the namespace is the machine's; otherwise a user namespace maps the caller to root in it,
    and /opt is a private tmpfs when /opt/ml cannot be created.
    """
    hosts = job_root.parent / f"{job_root.name}.hosts"
    hosts.write_text("127.0.0.1 localhost algo-1\n::1 localhost\n")
    script = (
        "{ mkdir -p /opt/ml 2>/dev/null || { mount -t tmpfs none /opt && mkdir -p /opt/ml; }; } && "
        + ("ip link set lo up && " if isolated else "")
        # The host is algo-1, as the DLC's start_with_right_hostname.sh makes it: torchrun's rendezvous resolves it.
        + "echo algo-1 > /proc/sys/kernel/hostname && "
        + f'mount --bind {job_root} {OPT_ML} && mount --bind {hosts} /etc/hosts && exec "$@"'
    )
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    return [
        "unshare",
        *user,
        "--mount",
        "--uts",
        # A PID namespace: when the job's main process exits, the kernel ends every process it left, as a
        # container's end does (torchrun and its workers included).
        "--pid",
        "--fork",
        "--propagation",
        "private",
        *(["--net"] if isolated else []),
        "--",
        "/bin/sh",
        "-c",
        script,
        "container",
        *command,
    ]


def namespaces_available() -> bool:
    """Whether this machine lets the rehearsal give a job its own /opt/ml and network (not in unprivileged Docker)."""
    if shutil.which("unshare") is None:
        return False
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    result = subprocess.run(
        ["unshare", *user, "--mount", "--uts", "--pid", "--fork", "--net", "--", "true"], capture_output=True
    )
    return result.returncode == 0


def container_env(context: JobContext, environment: dict, role: str | None) -> dict[str, str]:
    """The container's environment: the step's Environment, plus credentials unless isolated (role None)."""
    base = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ}
    base["PATH"] = f"{Path(context.python).parent}:{base.get('PATH', '/usr/bin:/bin')}"
    # SageMaker sets the region in every job container, isolated or not.
    base.update(
        {
            "PYTHONUNBUFFERED": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "SM_NUM_GPUS": "0",
            "AWS_REGION": context.region,
            "AWS_DEFAULT_REGION": context.region,
        }
    )
    if role is not None:
        base.update(context.cloud.env_for(role, context.region))
    return {**base, **{k: str(v) for k, v in environment.items()}}


def run_container(
    context: JobContext,
    job_root: Path,
    command: list[str],
    env: dict,
    *,
    isolated: bool,
    log_file: Path,
    watch: Callable[[str, subprocess.Popen], None] | None = None,
) -> int:
    process = subprocess.Popen(
        container_command(job_root, command, isolated=isolated),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None, "stdout=PIPE"
    with open(log_file, "a") as log:
        for line in process.stdout:
            log.write(line)
            if line.startswith(("train:", "eval:", "resume:", "interrupted:", "export:", "checkpoint:", "data:")):
                context.log(f"        {line.rstrip()}")
            if watch:
                watch(line, process)
    return process.wait()
