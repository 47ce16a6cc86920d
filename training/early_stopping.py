"""Stop when validation stops improving, and keep the best weights seen.

Its state is part of the training checkpoint, so a spot restart continues with the same best
weights, the same best score and the same count of evaluations without a gain.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class EarlyStopping:
    patience: int  # evaluations without a gain before stopping; 0: never stop, keep no best weights
    metric: str = "accuracy"
    best_score: float | None = None
    best_step: int = 0
    evals_without_gain: int = 0
    best_weights: dict[str, torch.Tensor] | None = None
    best_report: dict | None = None

    @property
    def enabled(self) -> bool:
        return self.patience > 0

    def gained(self, score: float) -> bool:
        """Strictly better than the best so far (a tie is no gain: the earlier, cheaper model stays best)."""
        if self.best_score is None:
            return True
        return score < self.best_score if self.metric == "loss" else score > self.best_score

    def update(self, report: dict, step: int, model: nn.Module) -> bool:
        """Record one evaluation; True when the run should stop now."""
        score = float(report[self.metric])
        if self.gained(score):
            self.best_score, self.best_step, self.evals_without_gain, self.best_report = score, step, 0, report
            self.best_weights = {
                name: tensor.detach().to("cpu", copy=True) for name, tensor in model.state_dict().items()
            }
            return False
        self.evals_without_gain += 1
        return self.evals_without_gain >= self.patience

    def state_dict(self) -> dict:
        return {
            "metric": self.metric,
            "best_score": self.best_score,
            "best_step": self.best_step,
            "evals_without_gain": self.evals_without_gain,
            "best_weights": self.best_weights,
            "best_report": self.best_report,
        }

    def load_state_dict(self, state: dict) -> None:
        if state["metric"] != self.metric:
            raise ValueError(
                f"the checkpoint tracked the best {state['metric']}, this run asks for {self.metric}. "
                "Fix: use a new checkpoint location, or restore --best_metric."
            )
        self.best_score, self.best_step = state["best_score"], state["best_step"]
        self.evals_without_gain, self.best_weights = state["evals_without_gain"], state["best_weights"]
        self.best_report = state["best_report"]
