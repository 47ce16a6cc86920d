"""What every step of a rehearsed pipeline runs with: the emulated cloud, the pipeline role, a folder of its own."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rehearsal.cloud import Cloud
from rehearsal.sagemaker.checkpoints import NOTICE_SECONDS
from rehearsal.sagemaker.pipelines import Execution


@dataclass
class Interruption:
    """A spot interruption: SIGTERM once the job logs ``train: step=<at_step>``, the instance reclaimed when
    ``notice_seconds`` run out (rehearsal.sagemaker.checkpoints), then a restart."""

    at_step: int
    notice_seconds: float = NOTICE_SECONDS
    happened: list[str] = field(default_factory=list)
    resumed: dict[str, int] = field(default_factory=dict)  # job name -> the step its next attempt resumed from


@dataclass
class JobContext:
    cloud: Cloud
    account: str
    region: str
    pipeline_role: str
    workdir: Path
    log: Callable[[str], None] = print
    interruption: Interruption | None = None
    python: str = sys.executable
    # Invokes a deployed function by ARN with an event and returns its answer (custom_resources.call).
    call_function: Callable[[str, dict], dict] | None = None


StepRunner = Callable[[dict, dict, Execution], dict]
