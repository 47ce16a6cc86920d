"""Wall time of a full synth of every stage, and of the delivery pipeline, against plain CDK synth without cdk-nag.

Each variant runs in a fresh process (imports and jsii start-up included, as a
user sees them) and is repeated; the median is reported with its ratio to the
baseline. Results go to docs/benchmarks.md.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date

from benchmarks.report import publish
from stacks.project import ROOT

GOAL_SECONDS = 15.0

IN_PROCESS = """
import json, sys
from aws_cdk import App
import app as cdk_app
from stacks.config import load_stages
from stacks.stage import MlopsStage
context = {**json.load(open("cdk.json"))["context"], "stage": "all"}
app = App(context=context, outdir=sys.argv[2])
if sys.argv[1] == "nag":
    cdk_app.build_app(app)
else:
    for config in load_stages(context["stages"], "all"):
        MlopsStage(app, config=config)
app.synth()
"""


def _variants(outdir: str) -> list[tuple[str, list[str]]]:
    return [
        ("CDK synth in one process, no cdk-nag (baseline)", [sys.executable, "-c", IN_PROCESS, "plain", outdir]),
        ("CDK synth in one process, with cdk-nag", [sys.executable, "-c", IN_PROCESS, "nag", outdir]),
        # The delivery pipeline is last but one: the goal below is about the stage synth users run most.
        (
            "`cdk synth -c stage=delivery` (pinned CLI, cdk-nag on: the pipeline and the three stages in it)",
            _cli("delivery", outdir),
        ),
        ("`cdk synth -c stage=all` (pinned CLI, cdk-nag on)", _cli("all", outdir)),
    ]


def _cli(stage: str, outdir: str) -> list[str]:
    return [
        str(ROOT / "node_modules" / ".bin" / "cdk"),
        "synth",
        "--app",
        f"{sys.executable} app.py",
        "-c",
        f"stage={stage}",
        "-q",
        "-o",
        outdir,
    ]


def _time(command: list[str]) -> float:
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main(repeats: int = 3) -> int:
    rows = []
    with tempfile.TemporaryDirectory() as outdir:
        for name, command in _variants(outdir):
            _time(command)  # warm the file cache and the jsii bundle
            rows.append((name, statistics.median(_time(command) for _ in range(repeats))))
    baseline = rows[0][1]
    cli_seconds = rows[-1][1]
    table = [
        f"### Synth of all stages (dev, staging, prod) and of the delivery pipeline — {date.today().isoformat()}",
        "",
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}; median of {repeats} runs "
        "after one warm-up, each in a fresh process. Command: `make bench` (`python -m benchmarks synth`).",
        "",
        "| variant | median wall time (s) | vs baseline |",
        "|---|---:|---:|",
        *[f"| {name} | {seconds:.2f} | {seconds / baseline:.2f}x |" for name, seconds in rows],
        "",
        f"Goal: the CLI synth of all stages under {GOAL_SECONDS:.0f} s — "
        f"{'met' if cli_seconds < GOAL_SECONDS else 'NOT met'} ({cli_seconds:.2f} s).",
    ]
    delivery_seconds = rows[-2][1]
    against = f"in-process synth without cdk-nag, {baseline:.2f} s"
    publish(
        "synth",
        table,
        headline=[
            {
                "result": "`cdk synth -c stage=all` with cdk-nag (pinned CLI)",
                "value": f"{cli_seconds:.2f} s",
                "baseline": against,
                "ratio": f"{cli_seconds / baseline:.2f}x",
            },
            {
                "result": "`cdk synth -c stage=delivery` with cdk-nag (pinned CLI)",
                "value": f"{delivery_seconds:.2f} s",
                "baseline": against,
                "ratio": f"{delivery_seconds / baseline:.2f}x",
            },
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
