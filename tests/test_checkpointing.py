"""Checkpoints are written atomically and a damaged one falls back to the previous good one."""

from __future__ import annotations

import torch
from checkpointing import load_latest_checkpoint, save_checkpoint


def _state(step):
    return {"step": step, "weights": torch.full((4,), float(step))}


def test_round_trip_returns_the_newest(tmp_path):
    save_checkpoint(_state(10), tmp_path, 10, keep=3)
    save_checkpoint(_state(20), tmp_path, 20, keep=3)
    assert load_latest_checkpoint(tmp_path)["step"] == 20


def test_no_directory_or_no_checkpoint_means_a_fresh_start(tmp_path):
    assert load_latest_checkpoint(tmp_path / "missing") is None
    assert load_latest_checkpoint(tmp_path) is None


def test_only_the_newest_are_kept_and_no_temp_files_remain(tmp_path):
    for step in (1, 2, 3, 4):
        save_checkpoint(_state(step), tmp_path, step, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint-000000003.json",
        "checkpoint-000000003.pt",
        "checkpoint-000000004.json",
        "checkpoint-000000004.pt",
    ]


def test_truncated_newest_falls_back_to_previous(tmp_path):
    save_checkpoint(_state(10), tmp_path, 10, keep=3)
    newest = save_checkpoint(_state(20), tmp_path, 20, keep=3)
    newest.write_bytes(newest.read_bytes()[:100])
    assert load_latest_checkpoint(tmp_path)["step"] == 10


def test_same_size_corruption_is_caught_by_checksum(tmp_path):
    save_checkpoint(_state(10), tmp_path, 10, keep=3)
    newest = save_checkpoint(_state(20), tmp_path, 20, keep=3)
    data = bytearray(newest.read_bytes())
    data[-50] ^= 0xFF
    newest.write_bytes(bytes(data))
    assert load_latest_checkpoint(tmp_path)["step"] == 10


def test_checkpoint_without_manifest_is_incomplete(tmp_path):
    save_checkpoint(_state(10), tmp_path, 10, keep=3)
    newest = save_checkpoint(_state(20), tmp_path, 20, keep=3)
    newest.with_suffix(".json").unlink()
    assert load_latest_checkpoint(tmp_path)["step"] == 10


def test_all_damaged_means_a_fresh_start(tmp_path):
    only = save_checkpoint(_state(10), tmp_path, 10, keep=3)
    only.write_bytes(b"")
    assert load_latest_checkpoint(tmp_path) is None
