"""The test suite's cost: `make test`'s pytest on both cores against the same suite run serially (how `make test`
ran it before), side by side in one run, with where the seconds go by module and by kind.

Each variant is a fresh pytest process over this checkout, writing JUnit XML for its per-test times. Under
``-n 2`` a test's time is its worker's, so the per-area seconds add up to CPU-side time, not wall time: the
wall time is the figure the 10-minute budget is about, the areas show where growth lands. Results go to
docs/benchmarks.md.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from benchmarks.report import publish
from stacks.project import ROOT

GOAL_SECONDS = 600.0
# `make test`'s pytest arguments (Makefile, PYTEST), and the serial run it replaced.
PARALLEL = ["-n", "2", "--dist", "loadgroup"]
VARIANTS = {"serial": [], "parallel": PARALLEL}
TOP_MODULES = 15


@dataclass(frozen=True)
class Run:
    variant: str
    wall_s: float
    passed: int
    failed: int
    seconds_by_module: dict[str, float]


def run_suite(variant: str, folder: Path) -> Run:
    report = folder / f"{variant}.xml"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"]
    started = time.perf_counter()
    subprocess.run([*command, *VARIANTS[variant]], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    return _read(variant, wall, report)


def _read(variant: str, wall: float, report: Path) -> Run:
    seconds: dict[str, float] = defaultdict(float)
    passed = failed = 0
    for case in ElementTree.parse(report).iter("testcase"):
        module = case.get("classname", "").split(".")[1] if "." in case.get("classname", "") else "?"
        seconds[module] += float(case.get("time", 0))
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.find("skipped") is None:
            passed += 1
    return Run(variant, wall, passed, failed, dict(seconds))


def table(runs: list[Run]) -> list[str]:
    baseline = next((run for run in runs if run.variant == "serial"), None)
    lines = [
        "### The test suite (`python -m benchmarks suite`)",
        "",
        f"{date.today().isoformat()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}. "
        f"`make test`'s pytest (`{' '.join(PARALLEL)}`, the whole rehearsals scheduled first) against the same "
        "suite run serially, as `make test` ran it before; each a fresh process over this checkout, one after "
        f"the other in one run. Budget: {GOAL_SECONDS / 60:.0f} minutes of pytest on 2 idle cores.",
        "",
        "| variant | wall | passed | failed | ratio to serial |",
        "|---|---:|---:|---:|---:|",
    ]
    for run in runs:
        ratio = f"{run.wall_s / baseline.wall_s:.2f}" if baseline else "—"
        lines.append(f"| {run.variant} | {run.wall_s:.0f} s | {run.passed} | {run.failed} | {ratio} |")
    lines += _areas(runs[-1])
    return lines


def _areas(run: Run) -> list[str]:
    total = sum(run.seconds_by_module.values()) or 1.0
    ranked = sorted(run.seconds_by_module.items(), key=lambda item: -item[1])
    lines = [
        "",
        f"Where the {run.variant} run's test seconds go ({total:.0f} s summed over its tests, setup included), "
        "by module:",
        "",
        "| module | seconds | share |",
        "|---|---:|---:|",
    ]
    for module, seconds in ranked[:TOP_MODULES]:
        lines.append(f"| `{module}` | {seconds:.0f} | {seconds / total:.0%} |")
    rest = sum(seconds for _, seconds in ranked[TOP_MODULES:])
    lines.append(f"| {len(ranked) - TOP_MODULES} other modules | {rest:.0f} | {rest / total:.0%} |")
    return lines


def main(variants: list[str] | None = None) -> int:
    chosen = variants or list(VARIANTS)
    with tempfile.TemporaryDirectory(prefix="suite-bench-") as folder:
        runs = [run_suite(variant, Path(folder)) for variant in chosen]
    last = runs[-1]
    headline = [
        {"result": f"pytest wall, {last.variant}", "value": f"{last.wall_s:.0f} s", "baseline": "", "ratio": ""}
    ]
    if len(runs) > 1:
        headline[0].update(baseline=f"serial {runs[0].wall_s:.0f} s", ratio=f"{last.wall_s / runs[0].wall_s:.2f}")
    publish("suite", table(runs), headline)
    return 0 if all(run.failed == 0 for run in runs) else 1
