"""Model channels as SageMaker delivers them: an extracted directory or the ``model.tar.gz`` a job wrote.

A training job's output and a registered package are ``model.tar.gz``; attaching one as a channel puts
that archive in the channel folder. It is unpacked into a scratch directory, refusing entries that would
land outside it (``../``, absolute paths, links out) and archives larger than a bound, before any byte
is written.
"""

from __future__ import annotations

import gzip
import tarfile
import zlib
from pathlib import Path

ARCHIVE_NAME = "model.tar.gz"
# DistilBERT is 0.27 GB and BERT-large 1.3 GB unpacked; a bound well above them still stops a
# runaway (or hostile) archive from filling the job's volume.
MAX_UNPACKED_BYTES = 20 * 1024**3


class ArchiveError(ValueError):
    """A model archive cannot be used safely or at all."""


def archive_in(path: Path) -> Path | None:
    """The model archive at ``path``: the file itself, or the one ``model.tar.gz`` in a channel folder."""
    if path.is_file() and path.name.endswith((".tar.gz", ".tgz")):
        return path
    candidate = path / ARCHIVE_NAME
    return candidate if candidate.is_file() else None


def resolve_model(name_or_path: str, scratch: Path, *, field: str, max_bytes: int = MAX_UNPACKED_BYTES) -> str:
    """A directory transformers can load, or a Hub id unchanged; an archive is unpacked under ``scratch``."""
    path = Path(name_or_path)
    if not path.exists():
        return name_or_path  # a Hub id; loading it offline fails with transformers' own message
    if (path / "config.json").is_file():
        return str(path)
    archive = archive_in(path)
    if archive is None:
        raise ArchiveError(
            f"{field}: {path} holds neither a model directory (config.json) nor {ARCHIVE_NAME}. "
            "Fix: point the channel at a training job's model.tar.gz or at an extracted model folder."
        )
    target = scratch / field.strip("-")
    unpack(archive, target, field=field, max_bytes=max_bytes)
    if not (target / "config.json").is_file():
        raise ArchiveError(
            f"{field}: {archive} has no config.json at its top level. "
            "Fix: pack the model folder's contents, e.g. tar -C model -czf model.tar.gz ."
        )
    return str(target)


def unpack(archive: Path, target: Path, *, field: str, max_bytes: int = MAX_UNPACKED_BYTES) -> None:
    target.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            _check_members(members, archive, field, max_bytes)
            # The "data" filter refuses what _check_members may have missed (device files, modes, links out).
            tar.extractall(target, members=members, filter="data")
    except tarfile.FilterError as error:
        raise ArchiveError(f"{field}: {archive}: {error}. Fix: repack the model folder without it.") from None
    # A copy cut short ends in EOFError or a zlib error from the middle of tarfile, not in a tarfile error.
    except (tarfile.ReadError, EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise ArchiveError(
            f"{field}: {archive} is not a complete tar.gz ({error or type(error).__name__}). Fix: copy it again, "
            "or repack the model folder: tar -C model -czf model.tar.gz ."
        ) from None


def _check_members(members: list[tarfile.TarInfo], archive: Path, field: str, max_bytes: int) -> None:
    total = 0
    for member in members:
        parts = Path(member.name).parts
        if member.name.startswith(("/", "\\")) or ".." in parts:
            raise ArchiveError(
                f"{field}: {archive} has the entry {member.name!r}, which points outside the folder "
                "it unpacks into; refused. Fix: pack with relative paths, e.g. "
                "tar -C model -czf model.tar.gz ."
            )
        total += max(member.size, 0)
        if total > max_bytes:
            raise ArchiveError(
                f"{field}: {archive} unpacks to more than {max_bytes / 1024**3:.1f} GiB; refused. "
                "Fix: attach only the model folder (weights, config, tokenizer)."
            )
