"""The drift monitor's settings and the names it publishes under: plain Python, so that stage config and the CLI read
them without loading the CDK (``stacks/monitor.py`` builds the constructs)."""

from __future__ import annotations

from dataclasses import dataclass

# The signal metrics, by the key the drift function's event names them with.
SIGNALS = {"predictions": "Predictions", "score": "TopScore", "length": "TextsByLength"}
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
