"""Stable, regex-friendly metric lines, and the SageMaker metric definitions that read them.

A line looks like ``train: step=120 epoch=0.57 loss=0.3312 lr=4.1e-05 samples_per_sec=812.4``.
The pipeline's MetricDefinitions come from METRIC_DEFINITIONS, so the two cannot drift.
"""

from __future__ import annotations

NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"

METRIC_DEFINITIONS = [
    {"Name": "train:loss", "Regex": rf"^train: .*\bloss={NUMBER}"},
    {"Name": "train:learning_rate", "Regex": rf"^train: .*\blr={NUMBER}"},
    {"Name": "train:samples_per_sec", "Regex": rf"^train: .*\bsamples_per_sec={NUMBER}"},
    {"Name": "eval:loss", "Regex": rf"^eval: .*\bloss={NUMBER}"},
    {"Name": "eval:accuracy", "Regex": rf"^eval: .*\baccuracy={NUMBER}"},
    {"Name": "eval:f1", "Regex": rf"^eval: .*\bf1_macro={NUMBER}"},
    # Early stopping's verdict: the step whose weights were exported, and their validation score.
    {"Name": "stop:best_step", "Regex": rf"^stop: .*\bbest_step={NUMBER}"},
    {"Name": "stop:best_score", "Regex": rf"^stop: .*\bbest_score={NUMBER}"},
]


def metric_line(kind: str, **values) -> str:
    parts = []
    for key, value in values.items():
        if isinstance(value, float):
            value = f"{value:.4e}" if key == "lr" else f"{value:.4f}"
        parts.append(f"{key}={value}")
    return f"{kind}: " + " ".join(parts)
