"""Checkpoint sync and spot interruptions as SageMaker handles them (rehearsal.sagemaker.checkpoints).

The planted defect: a job whose shutdown checkpoint is finished only after the spot notice has run out. The
rehearsal used to wait for the process and upload its checkpoint folder afterwards, so that checkpoint was
restored; on AWS the instance is gone by then, and only what the sync wrote to S3 during the run is restored.
"""

from __future__ import annotations

import subprocess
import sys
import time

import boto3
import pytest
from moto import mock_aws

from rehearsal.sagemaker.checkpoints import CheckpointSync, SpotNotice, checkpoint_files

URI = "s3://checkpoints/jobs/train/"


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="checkpoints")
        yield client


def keys(s3) -> dict[str, bytes]:
    found = s3.list_objects_v2(Bucket="checkpoints").get("Contents", [])
    return {item["Key"]: s3.get_object(Bucket="checkpoints", Key=item["Key"])["Body"].read() for item in found}


def test_written_during_training_and_deleted_with_the_local_file(s3, tmp_path):
    sync = CheckpointSync(s3, tmp_path, URI)
    (tmp_path / "step-100.pt").write_bytes(b"a")
    sync.sync_once()
    assert keys(s3) == {"jobs/train/step-100.pt": b"a"}
    (tmp_path / "step-200.pt").write_bytes(b"bb")
    (tmp_path / "step-100.pt").unlink()  # --keep_checkpoints prunes the old one: S3 follows
    sync.sync_once()
    assert keys(s3) == {"jobs/train/step-200.pt": b"bb"}


def test_a_host_that_only_restored_a_checkpoint_does_not_write_it_back_after_the_leader_deleted_it(s3, tmp_path):
    """Two hosts of one job sync to one prefix; algo-2 never writes a checkpoint (rank 0 on algo-1 does)."""
    leader, other = tmp_path / "algo-1", tmp_path / "algo-2"
    for folder in (leader, other):
        folder.mkdir()
        (folder / "step-100.pt").write_bytes(b"a")  # restored on both at the start
    s3.put_object(Bucket="checkpoints", Key="jobs/train/step-100.pt", Body=b"a")
    restored = checkpoint_files(other)
    syncs = [CheckpointSync(s3, folder, URI, restored=checkpoint_files(folder)) for folder in (leader, other)]
    (leader / "step-200.pt").write_bytes(b"bb")
    (leader / "step-100.pt").unlink()
    syncs[0].sync_once()
    syncs[1].sync_once()
    assert keys(s3) == {"jobs/train/step-200.pt": b"bb"}, "algo-2's unchanged copy is not news"
    unaware = CheckpointSync(s3, other, URI)  # a sync that treats what it restored as new writes it back
    unaware.sync_once()
    assert "jobs/train/step-100.pt" in keys(s3) and restored


# A job that saves a checkpoint at once, then takes its time over the shutdown checkpoint after SIGTERM.
SLOW_SHUTDOWN = """
import pathlib, signal, sys, time
folder = pathlib.Path(sys.argv[1])
(folder / "step-100.pt").write_bytes(b"periodic")
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
print("ready", flush=True)
while not stop:
    time.sleep(0.01)
time.sleep(float(sys.argv[2]))
(folder / "step-140.pt").write_bytes(b"shutdown")
"""


def interrupted_run(s3, folder, *, shutdown_seconds: float, notice_seconds: float) -> tuple[dict, bool]:
    sync = CheckpointSync(s3, folder, URI, interval=0.05).start()
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_SHUTDOWN, str(folder), str(shutdown_seconds)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    notice = SpotNotice(process, notice_seconds)
    process.wait(timeout=30)
    notice.settle()
    sync.stop(last_pass=not notice.reclaimed)
    return keys(s3), notice.reclaimed


def test_a_shutdown_checkpoint_finished_within_the_notice_is_restored(s3, tmp_path):
    restored, reclaimed = interrupted_run(s3, tmp_path, shutdown_seconds=0.2, notice_seconds=5)
    assert not reclaimed
    assert set(restored) == {"jobs/train/step-100.pt", "jobs/train/step-140.pt"}


def test_a_shutdown_checkpoint_finished_after_the_notice_is_lost_with_the_instance(s3, tmp_path):
    started = time.monotonic()
    restored, reclaimed = interrupted_run(s3, tmp_path, shutdown_seconds=3, notice_seconds=0.5)
    assert reclaimed and time.monotonic() - started < 2.5, "the job is killed when the notice runs out"
    assert set(restored) == {"jobs/train/step-100.pt"}, "only what the sync wrote before the instance went"
