"""The one registry client: the evaluation's baseline, the release step and `textclf pipeline` all query through it."""

from __future__ import annotations

import evaluate
import model_registry
import pytest


def test_the_newest_approved_package_ignores_pending_and_rejected_ones(mocked_registry):
    registry = mocked_registry
    assert model_registry.newest_approved(registry.sagemaker, registry.GROUP) is None
    registry.register(0.80, "Approved")
    newest = registry.register(0.90, "Approved")
    registry.register(0.99, "PendingManualApproval")
    registry.register(0.97, "Rejected")
    assert model_registry.newest_approved(registry.sagemaker, registry.GROUP)["ModelPackageArn"] == newest


def test_packages_lists_every_version_newest_first_across_pages(mocked_registry, monkeypatch):
    registry = mocked_registry
    arns = [
        registry.register(0.8 + i / 100, status)
        for i, status in enumerate(["Approved", "Rejected", "PendingManualApproval"])
    ]
    listing = registry.sagemaker.list_model_packages

    def one_per_page(**kwargs):
        return listing(**kwargs, MaxResults=1)

    monkeypatch.setattr(registry.sagemaker, "list_model_packages", one_per_page)
    assert [p["ModelPackageArn"] for p in model_registry.packages(registry.sagemaker, registry.GROUP)] == arns[::-1]


def test_package_metrics_reads_the_attached_evaluation_or_nothing(mocked_registry):
    registry = mocked_registry
    with_metrics, without = registry.register(0.9), registry.register(None)
    report = model_registry.package_metrics(registry.sagemaker, registry.s3, with_metrics)
    assert report["multiclass_classification_metrics"]["accuracy"]["value"] == 0.9
    assert model_registry.package_metrics(registry.sagemaker, registry.s3, without) == {}


def test_nothing_approved_means_only_the_threshold_applies(mocked_registry):
    registry = mocked_registry
    registry.register(0.95, "PendingManualApproval")
    registry.register(0.97, "Rejected")
    assert evaluate.baseline(registry.sagemaker, registry.s3, registry.GROUP, 0.01) == {
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
    result = evaluate.baseline(registry.sagemaker, registry.s3, registry.GROUP, 0.02)
    assert result["approved_model_package"] == latest
    assert result["approved_accuracy"] == 0.90
    assert result["minimum_accuracy"] == pytest.approx(0.88)


def test_no_group_gives_a_zero_baseline():
    assert evaluate.baseline(None, None, None, 0.05)["minimum_accuracy"] == 0.0
