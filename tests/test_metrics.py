"""Classification metrics against a hand-computed example."""

from __future__ import annotations

import pytest
import torch
from metrics import classification_report, confusion_matrix


def test_confusion_matrix_rows_are_true_classes():
    labels = torch.tensor([0, 0, 1, 1, 2])
    predictions = torch.tensor([0, 1, 1, 1, 0])
    assert confusion_matrix(labels, predictions, 3).tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]


def test_report_matches_hand_computation():
    labels = torch.tensor([0, 0, 1, 1, 2])
    predictions = torch.tensor([0, 1, 1, 1, 0])
    report = classification_report(labels, predictions, ["a", "b", "c"])
    assert report["accuracy"] == pytest.approx(3 / 5)
    # a: P=1/2 R=1/2 F1=1/2; b: P=2/3 R=1 F1=4/5; c: P=0 R=0 F1=0
    assert report["per_class"]["a"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert report["per_class"]["b"]["f1"] == pytest.approx(0.8)
    assert report["per_class"]["c"]["f1"] == 0.0
    assert report["f1_macro"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)
