"""The model registry's queries, written once for every caller.

The evaluation job reads the latest approved model's metrics (the regression baseline), the delivery
pipeline's release step resolves the package it serves, and `textclf pipeline` lists, approves and
picks teachers. Like ``contract``, this module imports nothing from its siblings, so the container
imports it as ``model_registry`` and the host as ``training.model_registry``; callers pass boto3
clients, so the release step needs nothing but boto3.
"""

from __future__ import annotations

import json
from urllib.parse import urlparse


def newest_approved(sagemaker, group: str) -> dict | None:
    """The newest Approved package summary of ``group`` (a name, or an ARN for another account's group)."""
    page = sagemaker.list_model_packages(
        ModelPackageGroupName=group,
        ModelApprovalStatus="Approved",
        SortBy="CreationTime",
        SortOrder="Descending",
        MaxResults=1,
    )
    summaries = page.get("ModelPackageSummaryList", [])
    return summaries[0] if summaries else None


def packages(sagemaker, group: str) -> list[dict]:
    """Every package summary of ``group``, newest first."""
    found, token = [], None
    while True:
        page = sagemaker.list_model_packages(
            ModelPackageGroupName=group,
            SortBy="CreationTime",
            SortOrder="Descending",
            **({"NextToken": token} if token else {}),
        )
        found += page.get("ModelPackageSummaryList", [])
        token = page.get("NextToken")
        if not token:
            return found


def serving_container(sagemaker, package_arn: str) -> tuple[dict, dict]:
    """The package's description and its (first) inference container: image, model data, environment."""
    described = sagemaker.describe_model_package(ModelPackageName=package_arn)
    return described, described["InferenceSpecification"]["Containers"][0]


def package_metrics(sagemaker, s3, package_arn: str) -> dict:
    """The package's attached evaluation.json (ModelQuality statistics); {} when it has none."""
    package = sagemaker.describe_model_package(ModelPackageName=package_arn)
    uri = package.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {}).get("S3Uri")
    if not uri:
        return {}
    location = urlparse(uri)
    return json.loads(s3.get_object(Bucket=location.netloc, Key=location.path.lstrip("/"))["Body"].read())
