"""Load: the model server under 32 and 64 clients, with the stages' JVM heap cap against the DLC's default.

Same model, same texts, same local endpoint (real multi-model-server, the toolkit's handler service, our
handler, the DLC's default of one worker per CPU); only ``SAGEMAKER_MODEL_SERVER_VMARGS`` differs. The DLC's
default, ``-XX:-UseContainerSupport``, sizes the heap from the host's RAM; every stage passes
``contract.MODEL_SERVER_VMARGS``. Each run reports answers, errors, p50/p99 latency and the peak resident
memory of the Java frontend and of the Python workers, sampled every 50 ms.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from benchmarks.load import LoadResult, PeakMemory, run_load
from benchmarks.report import publish
from benchmarks.serve_bench import BUNDLED_VALIDATION, read_labelled, train_small_model
from rehearsal.sagemaker.local_endpoint import LocalEndpoint, free_port
from stacks.project import ROOT
from training import contract

BASELINE = "DLC default (-XX:-UseContainerSupport)"
VARIANTS = {BASELINE: "-XX:-UseContainerSupport", f"stage setting ({contract.MODEL_SERVER_VMARGS})": None}
LOADS = ((32, 45.0), (64, 30.0))  # clients, seconds


@dataclass
class Run:
    result: LoadResult
    max_heap_mb: float
    frontend_mb: float
    workers_mb: float


def main(model: str | None = None) -> int:
    texts, _ = read_labelled(BUNDLED_VALIDATION)
    bodies = [json.dumps({"inputs": text}).encode() for text in texts]
    runs: dict[tuple[str, int], Run] = {}
    with tempfile.TemporaryDirectory(prefix="load-bench-") as workdir:
        source = Path(model) if model else train_small_model(Path(workdir))
        for variant, vmargs in VARIANTS.items():
            env = {contract.MODEL_SERVER_VMARGS_ENV: vmargs or contract.MODEL_SERVER_VMARGS}
            heap = max_heap_mb(env[contract.MODEL_SERVER_VMARGS_ENV])
            with LocalEndpoint(source, port=free_port(), env=env) as endpoint:
                for clients, seconds in LOADS:
                    print(f"-- {variant}: {clients} clients for {seconds:.0f} s", flush=True)
                    with PeakMemory(endpoint.pid) as memory:
                        # Enough requests that the deadline, not the list, ends the run.
                        result = run_load(endpoint.url, bodies * 200, clients=clients, deadline_s=seconds)
                    runs[variant, clients] = Run(result, heap, memory.frontend_mb, memory.workers_mb)
    publish("load", header(source) + table(runs), headline=headlines(runs))
    return 0


def max_heap_mb(vmargs: str) -> float:
    """The heap the JVM may grow to with these options on this host, as the JVM itself reports it."""
    flags = subprocess.run(
        ["java", *vmargs.split(), "-XX:+PrintFlagsFinal", "-version"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"\bMaxHeapSize\s*=\s*(\d+)", flags)
    if match is None:
        raise RuntimeError(f"java {vmargs} -XX:+PrintFlagsFinal printed no MaxHeapSize")
    return int(match.group(1)) / 2**20


def header(model: Path) -> list[str]:
    return [
        f"### Load: the JVM heap cap under 32 and 64 clients — {date.today().isoformat()}",
        "",
        "2 CPU cores, shared by the server and the load generator. Local endpoint = the real multi-model-server "
        "with the toolkit's handler service and our handler, the DLC's default worker count (one per CPU); "
        f"model `{model}`; one text per request, from `{BUNDLED_VALIDATION.relative_to(ROOT)}`; each client keeps "
        "one connection and sends its next request when the answer arrives, until the deadline. Only "
        f"`{contract.MODEL_SERVER_VMARGS_ENV}` differs between the variants. JVM max heap: what the JVM reports "
        "it may grow to with those options on this host (by default a quarter of the host's RAM: on an endpoint, "
        "the host's, not the endpoint's). Memory: peak RSS sampled every 50 ms. "
        "Command: `python -m benchmarks load`.",
        "",
        "| JVM options | clients | run s | answered 200 | not 200 | req/s | p50 ms | p99 ms | p99 vs baseline "
        "| JVM max heap MB | frontend peak RSS MB | workers peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]


def table(runs: dict[tuple[str, int], Run]) -> list[str]:
    lines = []
    for (variant, clients), run in runs.items():
        baseline = runs[BASELINE, clients]
        r = run.result
        lines.append(
            f"| {variant} | {clients} | {r.wall_seconds:.0f} | {r.ok} | {r.sent - r.ok} "
            f"| {r.throughput:.1f} | {r.percentile(0.5) * 1000:.0f} | {r.percentile(0.99) * 1000:.0f} "
            f"| {r.percentile(0.99) / baseline.result.percentile(0.99):.2f}x | {run.max_heap_mb:,.0f} "
            f"| {run.frontend_mb:.0f} | {run.workers_mb:.0f} |"
        )
    return lines


def headlines(runs: dict[tuple[str, int], Run]) -> list[dict]:
    rows = []
    for (variant, clients), run in runs.items():
        if variant == BASELINE:
            continue
        baseline = runs[BASELINE, clients]
        errors = run.result.sent - run.result.ok  # non-200 answers and failed connections
        rows.append(
            {
                "result": f"JVM heap cap, {clients} clients: p99 ({errors} errors; max heap "
                f"{run.max_heap_mb:,.0f} vs {baseline.max_heap_mb:,.0f} MB; frontend peak RSS "
                f"{run.frontend_mb:.0f} vs {baseline.frontend_mb:.0f} MB)",
                "value": f"{run.result.percentile(0.99) * 1000:.0f} ms",
                "baseline": BASELINE,
                "ratio": f"{run.result.percentile(0.99) / baseline.result.percentile(0.99):.2f}x",
            }
        )
    return rows
