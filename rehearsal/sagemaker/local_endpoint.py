"""A local endpoint with the SageMaker container contract: GET /ping, POST /invocations.

It runs what the Hugging Face inference DLC runs: the real multi-model-server (Java frontend,
Python workers) with the toolkit's ``HuggingFaceHandlerService``, which loads ``code/inference.py``
from the model directory. Only the config file's location differs: the DLC writes
``/etc/sagemaker-mms.properties``, we write ours to a temporary folder.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import NamedTuple

from delivery_steps.smoke import status_and_body
from training import archives, contract

HANDLER_SERVICE = "sagemaker_huggingface_inference_toolkit.handler_service"
# multi-model-server's Python side: the listener and each worker it forks run this module.
WORKER_MODULE = "model_service_worker"
# SageMaker's real-time payload limit; MMS rejects larger bodies with 413 before Python sees them.
MAX_REQUEST_BYTES = 6 * 1024 * 1024


class EndpointInputError(ValueError):
    """What the endpoint was given cannot be served (the model, the port): found before the server starts."""


class EndpointError(RuntimeError):
    """The local endpoint could not start; the message carries the model server's log tail."""


class LocalEndpoint:
    """Start with ``with LocalEndpoint(model_dir) as endpoint: endpoint.url``."""

    def __init__(
        self,
        model: str | Path,
        *,
        port: int = 8080,
        workers: int | None = None,
        env: dict[str, str] | None = None,
        startup_timeout: float = 180.0,
        ready_on_any_answer: bool = False,
    ) -> None:
        """``ready_on_any_answer``: ready once the handler answers at all, as SageMaker routes to an instance once
        /ping says so; by default ready means a 200, so that a model that cannot load fails to start here."""
        self.model = Path(model)
        self.port = port
        self.workers = workers
        self.env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.ready_on_any_answer = ready_on_any_answer
        self.url = f"http://127.0.0.1:{port}"
        self._process: subprocess.Popen | None = None
        self._workdir: Path | None = None

    def __enter__(self) -> LocalEndpoint:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.cleanup()

    @property
    def log_path(self) -> Path:
        assert self._workdir is not None
        return self._workdir / "model-server.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def start(self) -> None:
        _require_java()
        require_free(self.port)
        self._workdir = Path(tempfile.mkdtemp(prefix="textclf-endpoint-"))
        try:
            self._launch()
        except BaseException:
            # Ctrl-C or a failed start: the server has answered no one, so nothing is owed the grace. A worker loading
            # its model outlives SIGTERM (MMS's handler only removes its socket), and waiting for it made Ctrl-C at
            # start-up take 23 s (issue 47).
            self.cleanup(grace_s=0)
            raise

    def _launch(self) -> None:
        assert self._workdir is not None, "start() creates the work folder first"
        model_dir = _unpack(self.model, self._workdir)
        management_port = free_port()
        properties = self._workdir / "mms.properties"
        properties.write_text(self._properties(management_port))
        command = [
            _executable("multi-model-server"),
            "--start",
            "--foreground",
            "--model-store",
            "/",
            "--mms-config",
            str(properties),
            "--log-config",
            _log_config(),
            "--models",
            f"model={model_dir}",
        ]
        with open(self.log_path, "wb") as log:
            self._process = subprocess.Popen(
                command,
                cwd=self._workdir,
                env=self._child_env(model_dir),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_until_ready(management_port)

    def stop(self, *, grace_s: float = 20) -> None:
        """End the whole process group: the launcher, the Java frontend and its Python workers share the
        session we started, and any of them may outlive the others (a dead launcher leaves Java serving;
        a dead frontend leaves its workers), so the group is ended whether or not our child still runs.
        What is left of it ``grace_s`` after SIGTERM is killed."""
        if self._process is None:
            return
        group = self._process.pid
        _signal_group(group, signal.SIGTERM)
        _await_group_end(group, seconds=grace_s)
        _signal_group(group, signal.SIGKILL)
        self._process.wait()
        _await_group_end(group, seconds=10)
        self._process = None

    def worker_pids(self) -> set[int]:
        """The model server's Python side: each worker and the listener that forks them."""
        return {pid for pid, command in group_members(self.pid).items() if WORKER_MODULE in command}

    def kill_workers(self) -> set[int]:
        """SIGKILL every process of ``worker_pids()``, as an out-of-memory kill would. The frontend keeps
        answering /ping with 200 and logs contract.WORKER_RESTART_LOG while it retries."""
        killed = self.worker_pids()
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        return killed

    def cleanup(self, *, grace_s: float = 20) -> None:
        self.stop(grace_s=grace_s)
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def _properties(self, management_port: int) -> str:
        from importlib.resources import files

        defaults = files("sagemaker_inference").joinpath("etc/default-mms.properties").read_text()
        settings = {
            "inference_address": self.url,
            "management_address": f"http://127.0.0.1:{management_port}",
            "default_service_handler": HANDLER_SERVICE,
            # The DLC's toolkit (sagemaker-inference) sets the response timeout from this variable, 60 s unset.
            "default_response_timeout": int(self.env.get(contract.MODEL_SERVER_TIMEOUT_ENV, "60")),
            "max_request_size": MAX_REQUEST_BYTES,
            # JVM options from the model's environment, as the DLC reads them (the stages' heap cap unless
            # it says otherwise); worker sockets are named by port under java.io.tmpdir: keep two servers apart.
            "vmargs": f"{self._vmargs} -Djava.io.tmpdir={self._workdir}",
        }
        if self.workers:
            settings["default_workers_per_model"] = self.workers
        return defaults + "".join(f"{key}={value}\n" for key, value in settings.items())

    @property
    def _vmargs(self) -> str:
        return self.env.get(contract.MODEL_SERVER_VMARGS_ENV, contract.MODEL_SERVER_VMARGS)

    def _child_env(self, model_dir: Path) -> dict[str, str]:
        env = {**os.environ, **self.env}
        # MMS starts workers with `python` from PATH: make it this interpreter.
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        # The DLC puts the model's code/ on PYTHONPATH; MMS keeps its pid file in TMPDIR.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(model_dir / "code"), env.get("PYTHONPATH")]))
        env["TMPDIR"] = str(self._workdir)
        if self.workers:
            env["SAGEMAKER_MODEL_SERVER_WORKERS"] = str(self.workers)
        return env

    def _wait_until_ready(self, management_port: int) -> None:
        deadline = time.monotonic() + self.startup_timeout
        assert self._process is not None, "_launch() starts the server first"
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise EndpointError(f"model server exited with {self._process.returncode}:\n{self._log_tail()}")
            # The management API says READY before the model has loaded: ready means a real answer.
            if _workers_ready(management_port) and _answers(self.url, any_status=self.ready_on_any_answer):
                return
            time.sleep(0.2)
        raise EndpointError(f"model not ready after {self.startup_timeout:.0f} s:\n{self._log_tail()}")

    def log_lines(self) -> list[str]:
        """What the model server has logged so far, as SageMaker ships it to the endpoint's log group."""
        return self.log_path.read_text(errors="replace").splitlines() if self.log_path.exists() else []

    def _log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_lines()[-lines:])


def invoke(
    url: str,
    body: bytes | str,
    *,
    content_type: str = "application/json",
    accept: str = "application/json",
    timeout: float = 60.0,
) -> tuple[int, bytes]:
    """POST /invocations; returns (status, body) for any status, as a client sees it."""
    data = body.encode() if isinstance(body, str) else body
    request = urllib.request.Request(
        f"{url}/invocations", data=data, method="POST", headers={"Content-Type": content_type, "Accept": accept}
    )
    return status_and_body(request, timeout)


def ping(url: str, timeout: float = 5.0) -> int:
    try:
        with urllib.request.urlopen(f"{url}/ping", timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _workers_ready(management_port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{management_port}/models/model", timeout=2) as response:
            description = json.loads(response.read())
    except (OSError, ValueError):
        return False
    workers = description.get("workers", []) if isinstance(description, dict) else []
    return bool(workers) and all(worker.get("status") == "READY" for worker in workers)


def _unpack(model: Path, workdir: Path) -> Path:
    """A model directory is served in place; a model.tar.gz is unpacked as SageMaker does."""
    if model.is_dir():
        return _servable(model.resolve(), model)
    if not model.is_file() or not tarfile.is_tarfile(model):
        raise EndpointInputError(
            f"model: {model} is neither a model directory nor a model.tar.gz. Fix: pass the model/ folder "
            "train.py wrote, or its model.tar.gz."
        )
    target = workdir / "model"
    try:
        archives.unpack(model, target, field="model")
    except archives.ArchiveError as error:
        raise EndpointInputError(str(error)) from None
    return _servable(target, model)


# What training exports (training/exporting.py) and the DLC's handler service needs: without them the server would
# start, wait out its startup timeout, and fail with its log.
SERVED_FILES = ("config.json", f"{contract.ENDPOINT_CODE_DIR}/{contract.SERVING_PROGRAM}")


def _servable(model_dir: Path, given: Path) -> Path:
    missing = [name for name in SERVED_FILES if not (model_dir / name).is_file()]
    if missing:
        raise EndpointInputError(
            f"model: {given} has no {' or '.join(missing)}, so it is no model as training exports it. Fix: pass "
            "the model/ folder train.py wrote (or its model.tar.gz)."
        )
    return model_dir


def require_free(port: int) -> None:
    """Refuse a port something already listens on, before the model server finds out after its start-up."""
    if not _bindable(port):
        raise EndpointInputError(f"port {port} is in use. Fix: pass --port with a free port.")


def _require_java() -> None:
    if shutil.which("java") is None:
        raise EndpointError(
            "java: not found. multi-model-server's frontend needs Java 11+; "
            "install it, e.g. `apt-get install openjdk-17-jre-headless`."
        )


def _executable(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise EndpointError(f"{name}: not installed. Fix: `make install` installs requirements-serving.txt.")
    return found


def _log_config() -> str:
    from importlib.resources import files

    return str(files("sagemaker_inference").joinpath("etc/log4j2.xml"))


def _answers(url: str, *, any_status: bool = False) -> bool:
    try:
        status, _ = invoke(url, json.dumps({"inputs": "ready?"}), timeout=30)
    except OSError:
        return False
    # MMS answers 503 while no worker has the model; the handler's own answers are anything else.
    return status != 503 if any_status else status == 200


def _signal_group(group: int, signal_number: int) -> None:
    try:
        os.killpg(group, signal_number)
    except ProcessLookupError:
        pass  # nothing of the group is left


def _await_group_end(group: int, *, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while group_members(group) and time.monotonic() < deadline:
        time.sleep(0.05)


class Process(NamedTuple):
    pid: int
    parent: int
    group: int
    command: str


def live_processes() -> list[Process]:
    """Every process of this machine that has not exited (zombies left out), from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # After the command's closing parenthesis: state, ppid, pgrp.
            state, parent, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if state != "Z":
            found.append(Process(int(stat.parent.name), int(parent), int(group), command))
    return found


def group_members(group: int) -> dict[int, str]:
    """pid -> command line of every live process in process group ``group``."""
    return {process.pid: process.command for process in live_processes() if process.group == group}


def free_port() -> int:
    """A free loopback port below 32767, the highest multi-model-server accepts."""
    for port in random.sample(range(20000, 32767), 200):
        if _bindable(port):
            return port
    raise EndpointError("no free port in 20000..32766 for the model server.")


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
