"""`textclf local-run`: the whole system on this machine, offline, in a few minutes on 2 cores.

It runs what would be deployed, not an orchestration of its own:

1. synthesize every stage with the pinned CDK CLI (stacks, resources, cdk-nag, cfn-lint);
2. rehearse the delivery flow on the synthesized templates (``textclf rehearse --stage delivery``):
   deploy them into emulated AWS, run dev's training pipeline definition step by step (spot
   interruption included) on the bundled SST-2 sample with the packaged MiniLM, approve the
   package, release it, and serve staging's and prod's own verified copies on the local endpoint
   behind the delivery pipeline's smoke test, every AWS request checked against the policies;
3. write a run report (markdown + the evaluation's PNGs) to one folder.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from cli.errors import UserError
from rehearsal.command import rehearse
from rehearsal.report import while_silent
from rehearsal.session import Options
from stacks.project import ROOT, cdk_synth

# Written first into every run's folder: only a folder that holds it (or nothing) is emptied by the next run.
RUN_MARKER = ".textclf-local-run"


def main(args: argparse.Namespace) -> int:
    out = Path(args.output).resolve()
    replace_previous_run(out)
    print(
        f"textclf local-run: the whole system offline on this machine; about 7 minutes on 2 CPU cores. Output: {out}",
        flush=True,
    )
    started = time.perf_counter()
    print("\n[1/3] Synthesize every stage with the pinned CDK CLI (offline, no credentials)", flush=True)
    synth_lines = synthesize(out / "cdk.out")
    synth_seconds = time.perf_counter() - started
    print("\n[2/3] Rehearse the delivery flow on what `cdk synth` wrote", flush=True)
    outcome = rehearse(Options(stage="delivery", layout="single", output=out / "rehearsal"))
    print("\n[3/3] Write the run report", flush=True)
    serve = serve_command(out, outcome)
    report = write_report(
        out,
        synth_lines,
        outcome,
        {"synth": synth_seconds, "rehearsal": outcome.seconds, "total": time.perf_counter() - started},
        serve,
    )
    print(f"\nReport: {report}\nTotal: {time.perf_counter() - started:.0f} s", flush=True)
    if serve is not None:
        print(f"Serve prod's model on this machine: {serve}", flush=True)
    return 0 if outcome.passed else 1


def serve_command(out: Path, outcome) -> str | None:
    """What serves prod's model after a passed run, or None."""
    served = served_model(out / "rehearsal")
    return f"textclf serve {served} --port 8080" if outcome.passed and served is not None else None


def served_model(rehearsal_out: Path) -> Path | None:
    """The model.tar.gz prod's endpoint served in the rehearsal: the release every stage verified."""
    found = sorted((rehearsal_out / "serving" / "prod").glob("model-*/model.tar.gz"))
    return found[0] if found else None


def replace_previous_run(out: Path) -> None:
    """Empty ``out`` for this run, only if it is a previous run's output or holds nothing (issue 47: a folder of
    other files was deleted without a word), and mark it as this run's."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--output: {out} is a file. Fix: give a folder, new or a previous run's.")
    if out.is_dir() and any(out.iterdir()) and not (out / RUN_MARKER).is_file() and not (out / "report.md").is_file():
        shown = ", ".join(sorted(p.name for p in out.iterdir())[:3])
        raise UserError(
            f"--output: {out} holds files that no local run wrote ({shown}, ...), and each run replaces its folder. "
            "Fix: give a new or empty folder, or a previous run's."
        )
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / RUN_MARKER).write_text("textclf local-run output: the next run replaces this folder\n")


def synthesize(outdir: Path) -> list[str]:
    from cli import synth_report

    with while_silent("cdk synth of every stage, then cfn-lint and checkov"):
        cdk_synth("all", outdir)
        scan = synth_report.checkov(synth_report.templates(outdir))
        text = synth_report.render(synth_report.summarize(outdir), synth_report.nag_findings(outdir), scan)
    print(text)
    return text.splitlines()


def evaluation_folder(rehearsal_out: Path) -> Path | None:
    """Where the pipeline's Evaluate job left evaluation.json and its charts."""
    found = sorted(rehearsal_out.glob("jobs/*/*-Evaluate/opt-ml/processing/evaluation"))
    return found[-1] if found else None


def write_report(
    out: Path, synth_lines: list[str], outcome, timings: dict[str, float], serve: str | None = None
) -> Path:
    lines = [
        "# Local run report",
        "",
        "Everything below ran offline on this machine: `make run` (`textclf local-run`).",
        "",
        "## 1. Synthesized stages",
        "",
        *synth_lines,
        "",
        "## 2. Rehearsal of the delivery flow",
        "",
        "The synthesized templates deployed into emulated AWS (moto on loopback behind an IAM gateway that "
        "decides every request with the synthesized policies); dev's pipeline definition run step by step; "
        "the approved package released to staging and prod, each serving its own verified copy on the local "
        "endpoint (multi-model-server) behind the delivery pipeline's smoke test.",
        "",
        f"**{outcome.summary}**",
        "",
        "```",
        *outcome.report.lines,
        "```",
    ]
    for request, reason in outcome.denials:
        lines.append(f"- DENIED {request.principal} `{request.action}` on `{request.resource}`: {reason}")
    lines += evaluation_section(out)
    if serve is not None:
        lines += ["", "## Next", "", f"Serve prod's model on this machine: `{serve}`."]
    lines += [
        "",
        "## Timings",
        "",
        "| step | seconds |",
        "|---|---:|",
        *[f"| {name} | {seconds:.0f} |" for name, seconds in timings.items()],
    ]
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n")
    return report


def evaluation_section(out: Path) -> list[str]:
    folder = evaluation_folder(out / "rehearsal")
    if folder is None:
        return ["", "## 3. Evaluation", "", "The pipeline did not reach its Evaluate step."]
    quality = json.loads((folder / "evaluation.json").read_text())["multiclass_classification_metrics"]
    digest = json.loads((folder / "model_data.json").read_text())
    # Drawn here with matplotlib: the evaluation ran network-isolated in a container without it.
    from cli import charts

    charts.draw(folder, out / "evaluation")
    return [
        "",
        "## 3. Evaluation (the pipeline's Evaluate step, bundled SST-2 sample)",
        "",
        "| accuracy | macro F1 | model.tar.gz SHA-256 (recorded in the package) |",
        "|---:|---:|---|",
        f"| {quality['accuracy']['value']:.4f} | {quality['macro_f1']['value']:.4f} | `{digest['sha256']}` |",
        "",
        "![confusion matrix](evaluation/confusion_matrix.png) ![confidence](evaluation/confidence_histogram.png)",
        "",
        "Drawn when this report was written (`textclf charts`), from the step's evaluation.json and "
        "predictions.jsonl: the training container has no plotting library.",
    ]


def add_parser(commands) -> None:
    local = commands.add_parser(
        "local-run",
        help="the whole system offline: synth, then a rehearsal of the delivery "
        "flow on the synthesized templates, and a report",
        description=(__doc__ or "").partition("\n")[0],
    )
    local.add_argument(
        "--output",
        default=str(ROOT / "out" / "local-run"),
        help="folder for the assemblies, the rehearsal's jobs and the report: replaced each run, so it must be new, "
        "empty or a previous run's",
    )
    local.set_defaults(handler=main)
