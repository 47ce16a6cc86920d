"""Atomic, verifiable training checkpoints in the directory SageMaker syncs to S3.

A checkpoint is ``checkpoint-<step>.pt`` plus ``checkpoint-<step>.json`` (its
size and SHA-256). Both are written to a temp name and ``os.replace``d, data
first, so a checkpoint without a manifest is incomplete by construction; one
whose bytes do not match its manifest (a partial upload or download, a torn
write) is skipped in favour of the previous good one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from pathlib import Path

import torch

log = logging.getLogger(__name__)
_NAME = re.compile(r"^checkpoint-(\d{9})\.pt$")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_atomically(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def save_checkpoint(state: dict, directory: str | Path, step: int, keep: int) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    data = directory / f"checkpoint-{step:09d}.pt"
    _write_atomically(data, lambda handle: torch.save(state, handle))
    manifest = {"step": step, "bytes": data.stat().st_size, "sha256": _sha256(data)}
    _write_atomically(data.with_suffix(".json"), lambda handle: handle.write(json.dumps(manifest).encode()))
    for old in _checkpoints(directory)[keep:]:
        old.with_suffix(".json").unlink(missing_ok=True)
        old.unlink(missing_ok=True)
    return data


def _checkpoints(directory: Path) -> list[Path]:
    """Checkpoint data files, newest step first."""
    steps = {p: int(m.group(1)) for p in directory.glob("checkpoint-*.pt") if (m := _NAME.match(p.name))}
    return sorted(steps, key=steps.__getitem__, reverse=True)


def _problem(data: Path) -> str | None:
    manifest_path = data.with_suffix(".json")
    if not manifest_path.exists():
        return "no manifest (write was interrupted)"
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError:
        return "unreadable manifest"
    if data.stat().st_size != manifest.get("bytes"):
        return f"size {data.stat().st_size} != {manifest.get('bytes')} in manifest"
    if _sha256(data) != manifest.get("sha256"):
        return "checksum mismatch"
    return None


def load_latest_checkpoint(directory: str | Path) -> dict | None:
    """The newest intact checkpoint's state, or None when there is none."""
    directory = Path(directory)
    if not directory.is_dir():
        return None
    for data in _checkpoints(directory):
        problem = _problem(data)
        if problem is None:
            try:
                # Our own file from our own bucket; it holds RNG states, not only tensors.
                return torch.load(data, map_location="cpu", weights_only=False)
            except Exception as error:  # noqa: BLE001 - any unreadable file falls back to the previous one
                problem = f"unreadable ({error.__class__.__name__})"
        log.warning("skipping checkpoint %s: %s", data.name, problem)
    return None
