"""Process set-up: precision choice and the SIGTERM flag."""

from __future__ import annotations

import os
import signal

import pytest
import runtime
import torch


def test_auto_precision_is_fp32_on_cpu():
    assert runtime._autocast_dtype("auto", torch.device("cpu")) is None


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_half_precision_on_cpu_is_refused_with_the_fix(precision):
    with pytest.raises(ValueError, match=rf"--precision {precision} needs a GPU.*Fix: use auto or fp32"):
        runtime._autocast_dtype(precision, torch.device("cpu"))


def test_sigterm_is_remembered_not_fatal():
    previous = signal.getsignal(signal.SIGTERM)
    try:
        stop = runtime.StopSignal()
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.agreed(runtime.Runtime(0, 0, 1, torch.device("cpu"), None)) is True
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_rng_state_round_trip_replays_the_same_numbers():
    runtime.seed_everything(3)
    state = runtime.rng_state()
    first = torch.rand(3)
    runtime.set_rng_state(state)
    assert torch.equal(torch.rand(3), first)
