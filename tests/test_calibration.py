"""Calibration (training/calibration.py): the error it measures, and a temperature that removes a known miscalibration
without changing any answer."""

from __future__ import annotations

import calibration
import pytest
import torch


def test_calibration_error_of_a_perfectly_calibrated_model_is_zero():
    confidence = torch.tensor([0.75] * 4)
    correct = torch.tensor([True, True, True, False])
    assert calibration.expected_calibration_error(confidence, correct) == pytest.approx(0.0)


def test_the_fitted_temperature_undoes_an_overconfident_model():
    """Labels drawn from softmax(z / 2.5), scores given as softmax(z): the model is sure beyond its accuracy."""
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(8000, 3, generator=generator) * 6
    labels = torch.multinomial((logits / 2.5).softmax(dim=-1), 1, generator=generator).squeeze(1)
    temperature = calibration.fit_temperature(logits, labels)
    assert temperature == pytest.approx(2.5, rel=0.1)
    before, after = calibration.logits_ece(logits, labels), calibration.logits_ece(logits / temperature, labels)
    assert before > 0.1 and after < 0.03
    assert torch.equal((logits / temperature).argmax(-1), logits.argmax(-1)), "no answer changes"


def test_a_model_already_calibrated_keeps_a_temperature_of_one_or_close_and_never_a_worse_one():
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(4000, 2, generator=generator) * 3
    labels = torch.multinomial(logits.softmax(dim=-1), 1, generator=generator).squeeze(1)
    temperature = calibration.fit_temperature(logits, labels)
    assert temperature == pytest.approx(1.0, abs=0.1)
    assert calibration.log_loss(logits / temperature, labels) <= calibration.log_loss(logits, labels)
