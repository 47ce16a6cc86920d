"""The regression baseline the evaluation step writes: latest approved model's accuracy minus the margin."""

from __future__ import annotations

import approved_baseline
import pytest


def test_nothing_approved_means_only_the_threshold_applies(mocked_registry):
    registry = mocked_registry
    registry.register(0.95, "PendingManualApproval")
    registry.register(0.97, "Rejected")
    assert approved_baseline.baseline(registry.sagemaker, registry.s3, registry.GROUP, 0.01) == {
        "approved_model_package": None,
        "approved_accuracy": None,
        "regression_margin": 0.01,
        "minimum_accuracy": 0.0,
    }


def test_latest_approved_model_sets_the_bar_less_the_margin(mocked_registry):
    registry = mocked_registry
    registry.register(0.80, "Approved")
    latest = registry.register(0.90, "Approved")
    registry.register(0.99, "PendingManualApproval")
    result = approved_baseline.baseline(registry.sagemaker, registry.s3, registry.GROUP, 0.02)
    assert result["approved_model_package"] == latest
    assert result["approved_accuracy"] == 0.90
    assert result["minimum_accuracy"] == pytest.approx(0.88)


def test_no_group_gives_a_zero_baseline():
    assert approved_baseline.baseline(None, None, None, 0.05)["minimum_accuracy"] == 0.0
