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
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from rehearsal.sagemaker.context import JobContext
from rehearsal.sagemaker.network import Host, PrivateLink, hosts, hosts_file, interface_setup, user_namespace
from training import contract

OPT_ML = Path("/opt/ml")
SINGLE_HOST = Host("algo-1", "127.0.0.1")
# After one host of a job ends in failure, the others get this long to end too before they are stopped: a job
# fails as a whole, and a host left waiting in a collective for a peer that is gone would wait for its timeout.
PEER_GRACE_SECONDS = 30.0
# Sees each line a job's hosts write: the index of the host that wrote it, the line, every host's process.
Watch = Callable[[int, str, list[subprocess.Popen]], None]
# The lines of train.py's log the rehearsal shows as the job runs (all of them go to the job's log file).
RELAYED = ("runtime:", "train:", "eval:", "resume:", "interrupted:", "export:", "checkpoint:", "data:")


def container_command(
    job_root: Path,
    command: list[str],
    *,
    isolated: bool,
    host: Host = SINGLE_HOST,
    members: list[Host] | None = None,
    link: PrivateLink | None = None,
) -> list[str]:
    """``command`` inside private mount and host-name namespaces, with ``job_root`` as /opt/ml and ``host``'s
    name as the host name; with no network if isolated, or only ``link`` to the job's other hosts (``members``).

    As root the namespace is the machine's; otherwise a user namespace maps the caller to root in it,
    and /opt is a private tmpfs when /opt/ml cannot be created.
    """
    hosts = job_root.parent / f"{job_root.name}.hosts"
    hosts.write_text(hosts_file(members or [host]))
    script = (
        "{ mkdir -p /opt/ml 2>/dev/null || { mount -t tmpfs none /opt && mkdir -p /opt/ml; }; } && "
        + ("ip link set lo up && " if isolated else "")
        + (interface_setup(host) if link is not None else "")
        # The host name is the host's, as the DLC's start_with_right_hostname.sh makes it: torchrun's rendezvous
        # and gloo resolve it.
        + f"echo {host.name} > /proc/sys/kernel/hostname && "
        + f'mount --bind {job_root} {OPT_ML} && mount --bind {hosts} /etc/hosts && exec "$@"'
    )
    # A linked host is started inside the link's user namespace (link.enter()), where it may own namespaces.
    user = [] if link is not None else user_namespace()
    return [
        *(link.enter() if link is not None else []),
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
    result = subprocess.run(
        ["unshare", *user_namespace(), "--mount", "--uts", "--pid", "--fork", "--net", "--", "true"],
        capture_output=True,
    )
    return result.returncode == 0


def container_env(context: JobContext, environment: dict, role: str | None) -> dict[str, str]:
    """The container's environment: the step's Environment, plus credentials unless isolated (role None)."""
    base = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ}
    if contract.THREADS_ENV in os.environ:
        # The thread budget `make test` gives each worker, which its jobs keep to (AWS sets neither variable).
        base[contract.THREADS_ENV] = base["OMP_NUM_THREADS"] = os.environ[contract.THREADS_ENV]
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
    """One host's job: ``command`` in ``job_root`` as /opt/ml; its exit code."""
    (code,) = run_hosts(
        context,
        [job_root],
        command,
        env,
        isolated=isolated,
        log_files=[log_file],
        watch=None if watch is None else lambda _host, line, processes: watch(line, processes[0]),
    )
    return code


def run_hosts(
    context: JobContext,
    roots: list[Path],
    command: list[str],
    env: dict,
    *,
    isolated: bool,
    log_files: list[Path],
    watch: Watch | None = None,
    pin_cpus: bool = False,
) -> list[int]:
    """One job on ``len(roots)`` hosts, ``roots[i]`` the /opt/ml of algo-(i+1); each host's exit code.

    Several hosts of an isolated job share a private link and nothing else; otherwise they share the machine's
    network, each at an address of its own. ``watch`` sees each line with the index of the host that wrote it.
    Several hosts each get one of this machine's CPUs (round robin), one host too with ``pin_cpus``.
    """
    several = len(roots) > 1
    members = hosts(len(roots), linked=isolated) if several else [SINGLE_HOST]
    # Several hosts share this machine's cores: each is given one of its own (round robin), as an instance has.
    cpus = sorted(os.sched_getaffinity(0)) if several or pin_cpus else []
    link = PrivateLink() if isolated and several else None
    processes: list[subprocess.Popen] = []
    try:
        for index, (root, host) in enumerate(zip(roots, members, strict=True), start=1):
            processes.append(
                subprocess.Popen(
                    container_command(
                        root,
                        [*_pin(cpus[(index - 1) % len(cpus)]), *command] if cpus else command,
                        isolated=isolated,
                        host=host,
                        members=members,
                        link=link,
                    ),
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    start_new_session=True,
                )
            )
            if link is not None:
                link.join(processes[-1].pid, index)
        relays = [
            threading.Thread(target=_relay, args=(context, index, processes, log_file, watch, several), daemon=True)
            for index, log_file in enumerate(log_files)
        ]
        for relay in relays:
            relay.start()
        codes = _wait_as_one_job(processes)
        for relay in relays:
            relay.join()
        return codes
    finally:
        for process in processes:
            if process.poll() is None:
                _kill(process)
        if link is not None:
            link.close()


def _pin(cpu: int) -> list[str]:
    return ["taskset", "--cpu-list", str(cpu)]


def _relay(context, index, processes, log_file, watch, several: bool) -> None:
    process = processes[index]
    assert process.stdout is not None, "stdout=PIPE"
    with open(log_file, "a") as log:
        for line in process.stdout:
            log.write(line)
            if line.startswith(RELAYED):
                context.log(f"        {f'[algo-{index + 1}] ' if several and index else ''}{line.rstrip()}")
            if watch:
                watch(index, line, processes)


def _wait_as_one_job(processes: list[subprocess.Popen]) -> list[int]:
    """Every host's exit code; once one host has failed, the others have PEER_GRACE_SECONDS to end."""
    while True:
        codes = [process.poll() for process in processes]
        if all(code is not None for code in codes):
            return [code for code in codes if code is not None]
        if any(code not in (None, 0) for code in codes):
            deadline = time.monotonic() + PEER_GRACE_SECONDS
            for process in processes:
                try:
                    process.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    _kill(process)
                    process.wait()
            return [process.returncode for process in processes]
        time.sleep(0.1)


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
