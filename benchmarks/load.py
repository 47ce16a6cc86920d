"""A bounded closed-loop load generator for /invocations: N clients, a fixed request list, a deadline."""

from __future__ import annotations

import http.client
import queue
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from rehearsal.sagemaker.local_endpoint import WORKER_MODULE


@dataclass
class LoadResult:
    sent: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    wall_seconds: float = 0.0
    unsent: int = 0

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)

    @property
    def throughput(self) -> float:
        return self.ok / self.wall_seconds if self.wall_seconds else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def run_load(
    url: str, bodies: list[bytes], *, clients: int, deadline_s: float, content_type: str = "application/json"
) -> LoadResult:
    """Each client keeps one connection and sends the next body when its answer arrives."""
    pending: queue.Queue[bytes] = queue.Queue()
    for body in bodies:
        pending.put(body)
    result = LoadResult()
    lock = threading.Lock()
    stop_at = time.monotonic() + deadline_s
    target = urlsplit(url)
    if target.hostname is None:
        raise ValueError(f"url: {url!r} has no host. Fix: e.g. http://127.0.0.1:8080/invocations.")
    host = target.hostname

    def client() -> None:
        connection = http.client.HTTPConnection(host, target.port, timeout=60)
        while time.monotonic() < stop_at:
            try:
                body = pending.get_nowait()
            except queue.Empty:
                break
            started = time.perf_counter()
            try:
                connection.request(
                    "POST",
                    "/invocations",
                    body=body,
                    headers={"Content-Type": content_type, "Accept": "application/json"},
                )
                response = connection.getresponse()
                response.read()
                status, error = response.status, None
            except (OSError, http.client.HTTPException) as failure:
                status, error = -1, repr(failure)
                connection.close()
                connection = http.client.HTTPConnection(host, target.port, timeout=60)
            elapsed = time.perf_counter() - started
            with lock:
                result.sent += 1
                result.statuses[status] = result.statuses.get(status, 0) + 1
                if error:
                    result.errors.append(error)
                else:
                    result.latencies.append(elapsed)
        connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.wall_seconds = time.perf_counter() - started
    result.unsent = pending.qsize()
    return result


class PeakMemory:
    """Peak resident memory of the server's Java frontend and (summed) of its Python workers."""

    def __init__(self, group_leader: int) -> None:
        self.group_leader = group_leader
        self.frontend_mb = self.workers_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        import psutil

        leader = psutil.Process(self.group_leader)
        while not self._stop.wait(0.05):
            frontend = workers = 0
            for child in leader.children(recursive=True):
                try:
                    command = " ".join(child.cmdline())
                    rss = child.memory_info().rss
                except psutil.Error:
                    continue
                if command.split(" ", 1)[0].endswith("java"):
                    frontend += rss
                elif WORKER_MODULE in command:
                    workers += rss
            self.frontend_mb = max(self.frontend_mb, frontend / 2**20)
            self.workers_mb = max(self.workers_mb, workers / 2**20)
