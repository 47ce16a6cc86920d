"""The distillation loss: alpha*CE + (1-alpha)*T^2*KL on temperature-softened distributions."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from distillation import distillation_loss


@pytest.fixture
def logits():
    generator = torch.Generator().manual_seed(0)
    return (
        torch.randn(8, 3, generator=generator),
        torch.randn(8, 3, generator=generator),
        torch.tensor([0, 1, 2, 0, 1, 2, 0, 1]),
    )


def test_alpha_one_is_plain_cross_entropy(logits):
    student, teacher, labels = logits
    assert torch.allclose(
        distillation_loss(student, teacher, labels, alpha=1.0, temperature=4.0), F.cross_entropy(student, labels)
    )


def test_alpha_zero_is_scaled_kl_from_teacher_to_student(logits):
    student, teacher, labels = logits
    temperature = 3.0
    p_teacher = F.softmax(teacher / temperature, -1)
    p_student = F.softmax(student / temperature, -1)
    kl = (p_teacher * (p_teacher.log() - p_student.log())).sum(-1).mean()
    assert torch.allclose(
        distillation_loss(student, teacher, labels, alpha=0.0, temperature=temperature), temperature**2 * kl, atol=1e-6
    )


def test_mixture_is_linear_in_alpha(logits):
    student, teacher, labels = logits
    hard = distillation_loss(student, teacher, labels, alpha=1.0, temperature=2.0)
    soft = distillation_loss(student, teacher, labels, alpha=0.0, temperature=2.0)
    assert torch.allclose(
        distillation_loss(student, teacher, labels, alpha=0.3, temperature=2.0), 0.3 * hard + 0.7 * soft
    )


def test_soft_term_vanishes_when_student_matches_teacher(logits):
    _, teacher, labels = logits
    assert distillation_loss(teacher, teacher, labels, alpha=0.0, temperature=2.0).abs() < 1e-6
