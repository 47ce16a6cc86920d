"""The accuracy a new model must not fall below: the latest approved model's, minus a margin.

Runs inside the evaluation job, which reads the registry: the pipeline's condition step then
compares two numbers from files, as pipeline definitions cannot compute.
"""

from __future__ import annotations

import json
from urllib.parse import urlparse

ACCURACY_PATH = ("multiclass_classification_metrics", "accuracy", "value")


def latest_approved(sagemaker, group: str) -> str | None:
    page = sagemaker.list_model_packages(
        ModelPackageGroupName=group,
        ModelApprovalStatus="Approved",
        SortBy="CreationTime",
        SortOrder="Descending",
        MaxResults=1,
    )
    summaries = page.get("ModelPackageSummaryList", [])
    return summaries[0]["ModelPackageArn"] if summaries else None


def package_metrics(sagemaker, s3, package_arn: str) -> dict:
    """The package's attached evaluation.json (ModelQuality statistics); {} when it has none."""
    package = sagemaker.describe_model_package(ModelPackageName=package_arn)
    uri = package.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {}).get("S3Uri")
    if not uri:
        return {}
    location = urlparse(uri)
    return json.loads(s3.get_object(Bucket=location.netloc, Key=location.path.lstrip("/"))["Body"].read())


def package_accuracy(sagemaker, s3, package_arn: str) -> float | None:
    report = package_metrics(sagemaker, s3, package_arn)
    if not report:
        return None
    for key in ACCURACY_PATH:
        report = report[key]
    return float(report)


def baseline(sagemaker, s3, group: str | None, margin: float) -> dict:
    """``minimum_accuracy`` is 0 when nothing is approved yet, so the first model only meets the threshold."""
    arn = latest_approved(sagemaker, group) if group else None
    accuracy = package_accuracy(sagemaker, s3, arn) if arn else None
    minimum = max(0.0, accuracy - margin) if accuracy is not None else 0.0
    return {
        "approved_model_package": arn,
        "approved_accuracy": accuracy,
        "regression_margin": margin,
        "minimum_accuracy": minimum,
    }
