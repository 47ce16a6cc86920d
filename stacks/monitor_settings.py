"""The monitor's settings and the names it publishes under: plain Python, so that stage config and the CLI read
them without loading the CDK (``stacks/monitor.py`` builds the constructs)."""

from __future__ import annotations

import json
from dataclasses import dataclass

# The signal metrics, by the key the drift function's event names them with.
SIGNALS = {"predictions": "Predictions", "score": "TopScore", "length": "TextsByLength"}
# The fields of a feedback file as `textclf feedback upload` writes it (one JSON object per line), which the late-label
# function reads.
FEEDBACK_ID = "inference_id"
FEEDBACK_LABEL = "label"


def feedback_body(rows: dict[str, str]) -> bytes:
    """A feedback file's content: one object per line, answer id -> true label."""
    return "".join(json.dumps({FEEDBACK_ID: i, FEEDBACK_LABEL: label}) + "\n" for i, label in rows.items()).encode()


# The late-label quality figures, by the key of the label-quality function's result.
LABELLED = {"accuracy": "LabelledAccuracy", "min_class_recall": "LabelledMinClassRecall", "count": "LabelledAnswers"}
# The drift figures, by the key of the function's ``drift`` result.
DRIFT = {"class_mix": "ClassMixDrift", "confidence_drop": "ConfidenceDrop", "length": "LengthDrift"}


@dataclass(frozen=True, kw_only=True)
class MonitorBaseline:
    """What the served package's evaluation measured on its test channel (contract.MONITOR_METADATA)."""

    class_mix: tuple[float, ...]
    length: tuple[float, ...]
    mean_score: float


@dataclass(frozen=True, kw_only=True)
class MonitorSettings:
    window_minutes: int
    min_requests: int
    class_mix_max: float
    confidence_drop_max: float
    length_max: float


@dataclass(frozen=True, kw_only=True)
class QualityFloors:
    """The gate's floors, which answers judged against late labels must stay above: the stage's min_accuracy and
    min_class_recall."""

    accuracy: float
    class_recall: float
