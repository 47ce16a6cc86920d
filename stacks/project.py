"""The project as its tools see it: the checkout the CDK app, the CLI, the rehearsal and the benchmarks run
from, and how the pinned CDK CLI synthesizes it (for `textclf synth`, the rehearsal and the main job)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CDK_CLI = ROOT / "node_modules" / ".bin" / "cdk"


def cdk_synth(
    stage: str,
    outdir: Path,
    *,
    context: Mapping[str, str] | None = None,
    project: Path = ROOT,
    without: Sequence[str] = (),
) -> None:
    """Run the pinned CDK CLI; raises with its stderr when synth (or cdk-nag) fails.

    ``context`` adds ``-c`` values; ``project`` is the folder whose cdk.json the CLI reads; ``without``
    names environment variables the synth must not see (credentials, a default account).
    """
    # The CLI leaves other stages' nested assemblies behind; the summary must show only this synth.
    for stale in outdir.glob("assembly-*"):
        shutil.rmtree(stale)
    for stale in outdir.glob("*.template.json"):
        stale.unlink()
    env = {name: value for name, value in os.environ.items() if name not in without}
    env["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = "20"
    # --app pins this interpreter, so synth works whether or not a venv is activated.
    command = [
        str(CDK_CLI),
        "synth",
        "--app",
        f"{sys.executable} {ROOT / 'app.py'}",
        "-c",
        f"stage={stage}",
        *[part for key, value in (context or {}).items() for part in ("-c", f"{key}={value}")],
        "-o",
        str(outdir),
        "-q",
    ]
    result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"cdk synth failed:\n{result.stderr.strip()}")
