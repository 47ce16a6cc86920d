"""Uninstall from this interpreter's venv every distribution the locks do not name: `make install` installs the locks
with --no-deps, which adds and upgrades but never removes, so a package a lock dropped would stay in a venv made
before (and `tests/test_locks.py` would find it). Run by `make install` after the locked installs."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

LOCKS = Path(__file__).resolve().parent
# pip itself and the project, installed from source, are in no lock.
KEPT = {"pip", "textclf-mlops"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_names(*locks: str) -> set[str]:
    names = set()
    for lock in locks:
        for line in (LOCKS / lock).read_text().splitlines():
            if line and not line[0].isspace() and not line.startswith(("#", "--")):
                names.add(canonical(line.split("==")[0]))
    return names


def main() -> int:
    wanted = locked_names("python.lock", "torch.lock") | KEPT
    venv = [path for path in sys.path if path.startswith(sys.prefix)]
    extra = sorted(
        {canonical(d.metadata["Name"]) for d in metadata.distributions(path=venv)} - wanted,
    )
    if extra:
        print(f"removing what no lock names any more: {', '.join(extra)}")
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "--quiet", "--yes", *extra], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
