"""Checkpoints and spot interruptions as SageMaker handles them.

Sync (SageMaker Developer Guide, "Checkpoints in Amazon SageMaker AI"): what is in S3 is copied into the
container's checkpoint folder when the job starts; "SageMaker AI also writes new checkpoints from the container to
S3 during training. If a checkpoint is deleted in the SageMaker AI container, it will also be deleted in the S3
folder." :class:`CheckpointSync` does that while the job runs, not after it.

Interruption (Amazon EC2 User Guide, "Spot Instance interruption notices": the notice comes two minutes before the
instance is reclaimed): the job is told with SIGTERM, and the instance goes when the notice runs out, or earlier
once the job has exited. :class:`SpotNotice` kills a job still running then; what the sync had written to S3 by
that moment is all the next attempt gets.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path

from rehearsal.sagemaker.channels import split_uri

NOTICE_SECONDS = 120.0  # the EC2 Spot interruption notice


class CheckpointSync:
    """Mirrors ``folder`` to ``uri`` every ``interval`` seconds from :meth:`start` until :meth:`stop`."""

    def __init__(
        self, s3, folder: Path, uri: str, *, interval: float = 0.5, restored: dict[str, tuple[int, int]] | None = None
    ) -> None:
        self.s3, self.folder, self.interval = s3, folder, interval
        self.bucket, prefix = split_uri(uri)
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        # What was restored from S3 at the start is there already: a host that only read it (not the leader of a
        # multi-instance job) must not write it back after the leader has deleted it.
        self.synced: dict[str, tuple[int, int]] = dict(restored or {})
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"checkpoint-sync {uri}", daemon=True)

    def start(self) -> CheckpointSync:
        self._thread.start()
        return self

    def stop(self, *, last_pass: bool) -> None:
        """Stop syncing; ``last_pass``: one more pass first, as at the end of a job that ran to its end."""
        self._stopped.set()
        self._thread.join()
        if last_pass:
            self.sync_once()

    def _loop(self) -> None:
        while not self._stopped.wait(self.interval):
            self.sync_once()

    def sync_once(self) -> None:
        present = checkpoint_files(self.folder)
        for name, signature in present.items():
            if self.synced.get(name) != signature:
                try:
                    self.s3.upload_file(str(self.folder / name), self.bucket, self.prefix + name)
                except FileNotFoundError:
                    continue  # renamed or deleted while being read: the next pass sees where it went
                self.synced[name] = signature
        for name in set(self.synced) - set(present):
            self.s3.delete_object(Bucket=self.bucket, Key=self.prefix + name)
            del self.synced[name]


def checkpoint_files(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` by its relative name, with its signature (what the sync compares)."""
    present = {path.relative_to(folder).as_posix(): _signature(path) for path in folder.rglob("*") if path.is_file()}
    return {name: signature for name, signature in present.items() if signature is not None}


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_size, stat.st_mtime_ns


class SpotNotice:
    """One interruption of a running job: SIGTERM now, SIGKILL when the notice runs out if it is still running."""

    def __init__(self, process: subprocess.Popen, seconds: float = NOTICE_SECONDS) -> None:
        self.process, self.seconds = process, seconds
        self.reclaimed = False  # the job was still running when the notice ran out
        os.killpg(process.pid, signal.SIGTERM)
        self._timer = threading.Timer(seconds, self._reclaim)
        self._timer.daemon = True
        self._timer.start()

    def _reclaim(self) -> None:
        if self.process.poll() is None:
            self.reclaimed = True
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                return

    def settle(self) -> None:
        """The job has exited (or was killed): no reclaim is pending any more."""
        self._timer.cancel()
