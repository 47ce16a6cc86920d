"""Training data in memory: reading the channel whole (text_data, as train.py did) against the offset index
train.py reads now (text_index), on the bundled sample and on a file 10 times its size.

Each variant and size runs in a fresh process: the peak resident memory after loading the tokenizer is its
baseline, and the figure is what loading and tokenizing the train channel adds to that peak. The cost side: how
long loading takes, and how long 50 batches of 32 take to assemble (the index reads and tokenizes each batch's
texts when it is drawn). Results go to docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

from benchmarks.report import publish
from benchmarks.train_bench import DATA, TRAINING, minilm

SCRIPT = r"""
import json, random, resource, sys, time
import modeling, text_data, text_index
variant, folder, model = sys.argv[1:4]
tokenizer = modeling.load_tokenizer(model)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
if variant == "whole":
    examples = text_data.read_examples(folder, "text", "label")
    names = text_data.label_names(examples)
    dataset = text_data.encode(tokenizer, examples, text_data.encode_labels(examples, names), 128)
else:
    index = text_index.TextIndex(folder, "text", "label")
    names = text_data.label_names(index.label_examples())
    dataset = index.encoded(tokenizer, names, 128, "head")
loaded = time.perf_counter() - start
rng = random.Random(0)
start = time.perf_counter()
for _ in range(50):
    text_data.collate(dataset, rng.sample(range(len(dataset)), 32), 0)
batches = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"rows": len(dataset), "added_mb": (after - before) / 1024, "load_s": loaded, "batches_s": batches}))
"""


def measure(variant: str, folder: Path, model: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(TRAINING), "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, variant, str(folder), str(model)], env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def scaled(sample: Path, times: int, target: Path) -> Path:
    """The sample's rows ``times`` over, in one CSV."""
    header, *rows = sample.read_text(encoding="utf-8").splitlines(keepends=True)
    target.mkdir(parents=True)
    (target / "train.csv").write_text(header + "".join(rows * times), encoding="utf-8")
    return target


def main(scales: tuple[int, ...] = (1, 10)) -> int:
    model = minilm()
    with tempfile.TemporaryDirectory() as tmp:
        folders = {times: scaled(DATA / "train.csv", times, Path(tmp) / f"x{times}") for times in scales}
        sizes = {times: (folder / "train.csv").stat().st_size / 1e6 for times, folder in folders.items()}
        results = {
            (variant, times): measure(variant, folder, model)
            for times, folder in folders.items()
            for variant in ("whole", "index")
        }
    names = {"whole": "read whole, tokens held (text_data, before)", "index": "offset index (text_index, now)"}
    small, large = scales[0], scales[-1]
    lines = [
        f"### Training data in memory: whole channel vs offset index — {date.today().isoformat()}",
        "",
        "Peak resident memory that loading the train channel adds, in a fresh process per row (after the "
        "tokenizer is loaded), the time that loading takes (reading, checking every row, tokenizing), and the time "
        "to assemble 50 random batches of 32. Bundled SST-2 sample and the same rows 10 times over. Command: "
        "`python -m benchmarks data`.",
        "",
        "| reader | file | rows | memory added (MB) | load (s) | 50 batches (s) |",
        "|---|---:|---:|---:|---:|---:|",
        *[
            f"| {names[variant]} | {sizes[times]:.1f} MB | {r['rows']:,} | {r['added_mb']:.1f} | "
            f"{r['load_s']:.2f} | {r['batches_s']:.3f} |"
            for (variant, times), r in results.items()
        ],
        "",
        f"Growth from {small}x to {large}x the data: whole "
        f"{results[('whole', large)]['added_mb'] / max(results[('whole', small)]['added_mb'], 0.1):.1f}x, index "
        f"{results[('index', large)]['added_mb'] / max(results[('index', small)]['added_mb'], 0.1):.1f}x the memory. "
        "The index keeps 18 bytes and a token count per row (a label list besides), so it grows by about 30 bytes "
        "a row where reading whole grows by the texts and their tokens. Its cost is in the batches: each reads its "
        f"texts from the file and tokenizes them, {results[('index', large)]['batches_s'] / 50 * 1000:.1f} ms a batch "
        f"against {results[('whole', large)]['batches_s'] / 50 * 1000:.1f} ms (the training step it feeds takes "
        "hundreds of milliseconds on CPU, tens on a GPU); in FastFile mode those reads go to S3, random reads at "
        "that, where FastFile is fastest reading a file in order.",
    ]
    ratio = results[("index", large)]["added_mb"] / results[("whole", large)]["added_mb"]
    publish(
        "data",
        lines,
        headline=[
            {
                "result": f"memory to load {large}x the sample ({results[('index', large)]['rows']:,} rows)",
                "value": f"{results[('index', large)]['added_mb']:.1f} MB",
                "baseline": "read whole, tokens held",
                "ratio": f"{ratio:.2f}x",
            }
        ],
    )
    return 0
