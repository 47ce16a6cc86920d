"""The one registry client: the Baseline step, the release step and `textclf pipeline` all query through it."""

from __future__ import annotations

import model_registry


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
