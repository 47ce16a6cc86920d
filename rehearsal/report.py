"""What a rehearsal tells its user: a line per step, the failure that ends it, and the verdict."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

# A newcomer reads a silent minute as a hang (issue 47): after this long without a line, one says what is under way.
QUIET_SECONDS = 15.0


class Heartbeat:
    """While it runs, a line after every ``every`` seconds in which nothing was printed (``beat`` marks output),
    naming what is under way: ``what(elapsed seconds)``."""

    def __init__(self, what: Callable[[float], str], every: float = QUIET_SECONDS) -> None:
        self.what, self.every = what, every
        self.last = time.perf_counter()
        # Held for each line printed while it runs (job relays print from threads too), so that a heartbeat line
        # and the line that makes it unnecessary never interleave.
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def beat(self) -> None:
        self.last = time.perf_counter()

    def say(self, text: str) -> None:
        with self.lock:
            self.beat()
            print(text, flush=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(min(1.0, self.every)):
            with self.lock:
                if time.perf_counter() - self.last >= self.every:
                    print(f"   ...       {self.what(time.perf_counter())}", flush=True)
                    self.beat()


class RehearsalFailed(RuntimeError):
    """What would fail on AWS; the message names the step and the cause."""


def while_silent(what: str) -> Heartbeat:
    """``with while_silent("cdk synth"):`` prints what is under way, and for how long, while nothing else is."""
    started = time.perf_counter()
    return Heartbeat(lambda now: f"{what}: under way for {now - started:.0f} s")


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    failures: list[str] = field(default_factory=list)
    current: str = "starting"  # the step under way, which a fault the rehearsal did not foresee is reported against
    step_started: float = field(default_factory=time.perf_counter)
    _heartbeat: Heartbeat | None = None

    def step(self, title: str) -> float:
        self.current, self.step_started = title, time.perf_counter()
        self._print(f"\n== {title}")
        return self.step_started

    def status(self, name: str, status: str, started: float, detail: str = "") -> None:
        line = f"   {status:<9} {name:<38} {time.perf_counter() - started:6.1f} s  {detail}".rstrip()
        self.lines.append(line)
        self._print(line)

    def log(self, text: str) -> None:
        self._print(text)

    @contextmanager
    def heartbeat(self, every: float = QUIET_SECONDS) -> Iterator[None]:
        """Lines while a step is silent: what it is and how long it has run."""
        with Heartbeat(self._under_way, every) as beating:
            self._heartbeat = beating
            try:
                yield
            finally:
                self._heartbeat = None

    def _under_way(self, now: float) -> str:
        return f"{self.current}: under way for {now - self.step_started:.0f} s"

    def _print(self, text: str) -> None:
        if self._heartbeat is not None:
            self._heartbeat.say(text)
        else:
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
