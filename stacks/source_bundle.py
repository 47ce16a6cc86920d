"""sourcedir.tar.gz: the container code (training/ and inference/), byte-identical for identical code.

The SageMaker SDK puts timestamps in its code uploads, so every synth would differ. This
archive has sorted entries, zero mtimes, no owners and a gzip header without time or name:
the same code gives the same bytes, hence the same asset hash and a quiet `cdk diff`.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

from stacks.project import ROOT

CODE_DIRS = ("training", "inference")
SUFFIXES = (".py", ".txt", ".json")


def source_files(root: Path = ROOT) -> list[Path]:
    files = []
    for directory in CODE_DIRS:
        files += [
            p
            for p in (root / directory).rglob("*")
            if p.is_file() and p.suffix in SUFFIXES and "__pycache__" not in p.parts
        ]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def build(target: Path, root: Path = ROOT) -> Path:
    """Write the archive to ``target`` (only if its bytes changed) and return it."""
    data = archive_bytes(root)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists() or target.read_bytes() != data:
        target.write_bytes(data)
    return target


def archive_bytes(root: Path = ROOT) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in source_files(root):
            content = path.read_bytes()
            info = tarfile.TarInfo(path.relative_to(root).as_posix())
            info.size, info.mtime, info.mode = len(content), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(content))
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0) as archive:
        archive.write(raw.getvalue())
    return packed.getvalue()
