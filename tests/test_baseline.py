"""The Baseline step's function (training/baseline.py) against a mocked registry, and its arguments checked."""

from __future__ import annotations

import baseline
import pytest


def test_nothing_approved_means_only_the_threshold_applies(mocked_registry):
    registry = mocked_registry
    registry.register(0.95, "PendingManualApproval")
    registry.register(0.97, "Rejected")
    assert baseline.baseline(registry.sagemaker, registry.s3, registry.GROUP, 0.01) == {
        "minimum_accuracy": 0.0,
        "approved_model_package": "",
    }


def test_latest_approved_model_sets_the_bar_less_the_margin(mocked_registry):
    registry = mocked_registry
    registry.register(0.80, "Approved")
    latest = registry.register(0.90, "Approved")
    registry.register(0.99, "PendingManualApproval")
    result = baseline.baseline(registry.sagemaker, registry.s3, registry.GROUP, 0.02)
    assert result["approved_model_package"] == latest
    assert result["minimum_accuracy"] == pytest.approx(0.88)


def test_the_handler_answers_the_steps_output_parameters(mocked_registry):
    registry = mocked_registry
    latest = registry.register(0.90, "Approved")
    answer = baseline.handler({"model_package_group": registry.GROUP, "regression_margin": 0.05}, None)
    assert answer == {"minimum_accuracy": pytest.approx(0.85), "approved_model_package": latest}


@pytest.mark.parametrize(
    "event, field",
    [
        ({"regression_margin": 0.01}, "model_package_group"),
        ({"model_package_group": "", "regression_margin": 0.01}, "model_package_group"),
        ({"model_package_group": "g", "regression_margin": "0.01"}, "regression_margin"),
        ({"model_package_group": "g", "regression_margin": 1.5}, "regression_margin"),
        ({"model_package_group": "g", "regression_margin": float("nan")}, "regression_margin"),
        ({"model_package_group": "g"}, "regression_margin"),
    ],
)
def test_a_bad_argument_fails_the_step_naming_it_and_the_fix(event, field):
    with pytest.raises(ValueError, match=rf"^{field}: .* Fix: "):
        baseline.parse_event(event)


@pytest.mark.parametrize("accuracy, problem", [(None, "has no evaluation report"), (float("nan"), "nan")])
def test_an_approved_package_without_a_readable_accuracy_fails_the_step_instead_of_passing_anything(
    mocked_registry, accuracy, problem
):
    """Issue 30: such a package used to give a baseline of 0.0, which any model passes."""
    registry = mocked_registry
    registry.register(0.90, "Approved")
    unreadable = registry.register(accuracy, "Approved")
    with pytest.raises(baseline.NoBaseline, match=problem) as error:
        baseline.baseline(registry.sagemaker, registry.s3, registry.GROUP, 0.01)
    assert unreadable in str(error.value) and "Fix: reject that package" in str(error.value)
