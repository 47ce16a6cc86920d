"""Classification metrics from predictions, without scikit-learn."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def confusion_matrix(labels: torch.Tensor, predictions: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Rows are true classes, columns predicted classes."""
    flat = labels.long() * num_classes + predictions.long()
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def classification_report(labels: torch.Tensor, predictions: torch.Tensor, names: Sequence[str]) -> dict:
    matrix = confusion_matrix(labels, predictions, len(names)).double()
    true_positive = matrix.diag()
    predicted = matrix.sum(0)
    actual = matrix.sum(1)
    precision = torch.where(predicted > 0, true_positive / predicted.clamp(min=1), torch.zeros_like(predicted))
    recall = torch.where(actual > 0, true_positive / actual.clamp(min=1), torch.zeros_like(actual))
    denominator = precision + recall
    f1 = torch.where(
        denominator > 0, 2 * precision * recall / denominator.clamp(min=1e-12), torch.zeros_like(denominator)
    )
    return {
        "accuracy": float(true_positive.sum() / matrix.sum().clamp(min=1)),
        "f1_macro": float(f1.mean()),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(actual[i]),
            }
            for i, name in enumerate(names)
        },
        "confusion_matrix": matrix.long().tolist(),
    }
