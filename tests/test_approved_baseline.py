"""The regression baseline the evaluation step writes: latest approved model's accuracy minus the margin."""

from __future__ import annotations

import json

import pytest

import approved_baseline

GROUP = "textclf-dev"


@pytest.fixture
def registry(mocked_registry):
    return mocked_registry


def package(sagemaker, s3, accuracy: float, status: str) -> str:
    key = f"evaluations/{accuracy}/evaluation.json"
    s3.put_object(Bucket="artifacts", Key=key,
                  Body=json.dumps({"multiclass_classification_metrics": {"accuracy": {"value": accuracy}}}))
    return sagemaker.create_model_package(
        ModelPackageGroupName=GROUP, ModelApprovalStatus=status,
        InferenceSpecification={"Containers": [{"Image": "img", "ModelDataUrl": "s3://artifacts/model.tar.gz"}],
                                "SupportedContentTypes": ["application/json"],
                                "SupportedResponseMIMETypes": ["application/json"]},
        ModelMetrics={"ModelQuality": {"Statistics": {"ContentType": "application/json",
                                                      "S3Uri": f"s3://artifacts/{key}"}}},
    )["ModelPackageArn"]


def test_nothing_approved_means_only_the_threshold_applies(registry):
    sagemaker, s3 = registry
    package(sagemaker, s3, 0.95, "PendingManualApproval")
    package(sagemaker, s3, 0.97, "Rejected")
    assert approved_baseline.baseline(sagemaker, s3, GROUP, 0.01) == {
        "approved_model_package": None, "approved_accuracy": None, "regression_margin": 0.01,
        "minimum_accuracy": 0.0}


def test_latest_approved_model_sets_the_bar_less_the_margin(registry):
    sagemaker, s3 = registry
    package(sagemaker, s3, 0.80, "Approved")
    latest = package(sagemaker, s3, 0.90, "Approved")
    package(sagemaker, s3, 0.99, "PendingManualApproval")
    result = approved_baseline.baseline(sagemaker, s3, GROUP, 0.02)
    assert result["approved_model_package"] == latest
    assert result["approved_accuracy"] == 0.90
    assert result["minimum_accuracy"] == pytest.approx(0.88)


def test_no_group_gives_a_zero_baseline():
    assert approved_baseline.baseline(None, None, None, 0.05)["minimum_accuracy"] == 0.0
