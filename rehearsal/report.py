"""What a rehearsal tells its user: a line per step, the failure that ends it, and the verdict."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


class RehearsalFailed(RuntimeError):
    """What would fail on AWS; the message names the step and the cause."""


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    failures: list[str] = field(default_factory=list)
    current: str = "start"  # the step under way, which a fault the rehearsal did not foresee is reported against

    def step(self, title: str) -> float:
        self.current = title
        print(f"\n== {title}", flush=True)
        return time.perf_counter()

    def status(self, name: str, status: str, started: float, detail: str = "") -> None:
        line = f"   {status:<9} {name:<38} {time.perf_counter() - started:6.1f} s  {detail}".rstrip()
        self.lines.append(line)
        print(line, flush=True)

    def log(self, text: str) -> None:
        print(text, flush=True)


@dataclass
class Outcome:
    """What a rehearsal found: its verdict, its step lines, and the IAM decisions made on the way."""

    passed: bool
    summary: str
    report: Report
    decisions: int
    denials: list
    seconds: float
