"""Monitoring signals: the handler that logs one signal line per answered text against the same handler without them.

Both variants are the shipped handler's functions in one process, on the same model and texts, timed alternately:
``input_fn``, then ``predict_fn`` (with signals: ``predict_with_signals`` and one write of the request's lines to
stdout) or the handler before signals (``predict`` alone), then ``output_fn``. Stdout is a pipe that a thread
drains, as the model server reads a worker's stdout. Requests carry 1 and 8 texts.
"""

from __future__ import annotations

import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.report import publish
from benchmarks.serve_bench import BUNDLED_VALIDATION, read_labelled, stage_model, train_small_model
from stacks.project import ROOT

ROUNDS = 7
REQUESTS_PER_ROUND = 60
TEXTS_PER_REQUEST = (1, 8)
LIMIT = 0.05  # the issue's bound on the signals' share of handler time


def main(model: str | None = None) -> int:
    texts, _ = read_labelled(BUNDLED_VALIDATION)
    with tempfile.TemporaryDirectory(prefix="signals-bench-") as workdir:
        source = Path(model) if model else train_small_model(Path(workdir))
        staged = stage_model(source, Path(workdir) / "served", with_code=True)
        # The endpoint's handler module, from the model's code/ folder, as the model server imports it.
        sys.path.insert(0, str(staged / "code"))
        inference = importlib.import_module("inference")
        handler = inference.model_fn(str(staged))
        rows = [measure(inference, handler, texts, size) for size in TEXTS_PER_REQUEST]
    lines = [
        "## Monitoring signals: handler time with and without the per-text signal lines",
        "",
        f"Model: {f'`{source}`' if model else 'the packaged MiniLM fine-tuned for 1 epoch on the bundled sample'}; "
        f"texts: `{BUNDLED_VALIDATION.relative_to(ROOT)}`; {ROUNDS} alternating rounds of {REQUESTS_PER_ROUND} "
        "requests per variant, median per request. Baseline: the handler before signals (`predict` alone). "
        f"Goal: signals cost under {LIMIT:.0%} of handler time.",
        "",
        "| texts per request | without signals (ms) | with signals (ms) | ratio | baseline's rounds, slowest/fastest "
        "| signal bytes per text |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    headline = []
    for size, without, with_signals, spread, line_bytes in rows:
        ratio = with_signals / without
        lines.append(
            f"| {size} | {without:.2f} | {with_signals:.2f} | {ratio:.3f}x | {spread:.3f}x | {line_bytes:.0f} |"
        )
        headline.append(
            {
                "result": f"handler with signals, {size} text(s) per request",
                "value": f"{with_signals:.2f} ms",
                "baseline": f"without signals {without:.2f} ms",
                "ratio": f"{ratio:.3f}x",
            }
        )
    lines += [
        "",
        "A ratio within the baseline's own spread between rounds is no measurable cost. Every signal line is numbers "
        "only (class index, top score, length bucket): no text, no label.",
    ]
    publish("signals", lines, headline=headline)
    return 0


def measure(inference, model, texts: list[str], size: int) -> tuple[int, float, float, float, float]:
    bodies = [
        json.dumps({"inputs": texts[(i * size) % len(texts) : (i * size) % len(texts) + size]})
        for i in range(REQUESTS_PER_ROUND)
    ]

    def without_signals(request):
        return {"results": model.predict(request), "single": request.single}

    def with_signals(request):
        return inference.predict_fn(request, model)

    variants: dict[str, Callable] = {"without": without_signals, "with": with_signals}
    timings: dict[str, list[float]] = {name: [] for name in variants}
    with _StdoutToAPipe() as pipe:
        for name in variants:  # warm-up, untimed
            _run(inference, variants[name], bodies[:5])
        for _ in range(ROUNDS):
            for name, predict in variants.items():
                timings[name].append(_run(inference, predict, bodies) / len(bodies))
    line_bytes = pipe.bytes / ((ROUNDS * REQUESTS_PER_ROUND + 5) * size)
    plain, signalled = (statistics.median(timings[name]) * 1000 for name in ("without", "with"))
    return size, plain, signalled, max(timings["without"]) / min(timings["without"]), line_bytes


def _run(inference, predict: Callable, bodies: list[str]) -> float:
    started = time.perf_counter()
    for body in bodies:
        inference.output_fn(predict(inference.input_fn(body, "application/json")), "application/json")
    return time.perf_counter() - started


class _StdoutToAPipe:
    """Point file descriptor 1 at a pipe that another process drains, as the model server's frontend (a Java process)
    reads a worker's stdout; a thread of this process would compete with the handler for the GIL."""

    bytes = 0

    def __enter__(self) -> _StdoutToAPipe:
        read_end, write_end = os.pipe()
        self.reader = subprocess.Popen(["wc", "-c"], stdin=read_end, stdout=subprocess.PIPE, text=True)
        os.close(read_end)
        self.saved = os.dup(1)
        sys.stdout.flush()
        os.dup2(write_end, 1)
        os.close(write_end)
        return self

    def __exit__(self, *exc) -> None:
        sys.stdout.flush()
        os.dup2(self.saved, 1)
        os.close(self.saved)
        out, _ = self.reader.communicate(timeout=30)
        self.bytes = int(out.strip() or 0)
