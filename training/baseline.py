"""The regression baseline: the accuracy a new model must reach, set by the registry's latest approved model.

It runs as the pipelines' Baseline step, a Lambda function, apart from the evaluation job. It is
the one part of the gate that calls AWS (the SageMaker and S3 APIs) and it touches no dataset and
no model, so the evaluation job, which reads both, runs network-isolated. The Lambda runtime has
boto3; this module, ``contract`` and ``model_registry`` are the whole function package
(stacks/baseline.py), so it imports its siblings by plain name, as the jobs do.
"""

from __future__ import annotations

import math

import contract
import model_registry


class NoBaseline(ValueError):
    """An approved package whose accuracy cannot be read: the step fails rather than let any model through."""


def baseline(sagemaker, s3, group: str, margin: float) -> dict:
    """The latest approved model's accuracy minus ``margin``; 0 when nothing is approved yet.

    A new group's first model therefore only has to meet the pipeline's accuracy threshold. An approved package
    without a readable, finite accuracy fails the step: a baseline of 0 would pass any model.
    """
    approved = model_registry.newest_approved(sagemaker, group)
    if not approved:
        # Pipelines' String outputs cannot be null: "" means nothing approved.
        return {contract.BASELINE_MINIMUM: 0.0, contract.BASELINE_APPROVED: ""}
    arn = approved["ModelPackageArn"]
    return {
        contract.BASELINE_MINIMUM: max(0.0, approved_accuracy(sagemaker, s3, arn) - margin),
        contract.BASELINE_APPROVED: arn,
    }


def approved_accuracy(sagemaker, s3, arn: str) -> float:
    fix = (
        "Fix: reject that package (the one approved before it becomes the baseline), or register and approve a "
        "model the current pipeline evaluated."
    )
    report = model_registry.package_metrics(sagemaker, s3, arn)
    if not report:
        raise NoBaseline(f"{arn} is approved but has no evaluation report, so no baseline can be set. {fix}")
    try:
        accuracy = float(contract.read_path(report, contract.ACCURACY_PATH))
    except (KeyError, IndexError, TypeError, ValueError):
        raise NoBaseline(f"{arn}: its evaluation report has no {'.'.join(contract.ACCURACY_PATH)}. {fix}") from None
    if not (math.isfinite(accuracy) and 0.0 <= accuracy <= 1.0):
        raise NoBaseline(f"{arn}: its evaluation report's accuracy is {accuracy!r}, not a fraction. {fix}")
    return accuracy


def parse_event(event: dict) -> tuple[str, float]:
    """The step's arguments, checked: a bad one fails the step with a message naming it."""
    group = event.get(contract.BASELINE_GROUP_ARG)
    if not isinstance(group, str) or not group:
        raise ValueError(f"{contract.BASELINE_GROUP_ARG}: {group!r} is no model package group. Fix: pass its name.")
    margin = event.get(contract.BASELINE_MARGIN_ARG)
    if isinstance(margin, (int, float)) and not isinstance(margin, bool) and math.isfinite(margin) and 0 <= margin < 1:
        return group, float(margin)
    raise ValueError(
        f"{contract.BASELINE_MARGIN_ARG}: {margin!r} is not a fraction. Fix: a number in [0, 1), e.g. 0.01."
    )


def handler(event: dict, context) -> dict:
    """Lambda entry point: the step's arguments in, its output parameters out."""
    import boto3

    group, margin = parse_event(event)
    return baseline(boto3.client("sagemaker"), boto3.client("s3"), group, margin)
