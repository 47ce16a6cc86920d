"""How a stage's endpoint takes a new model: SageMaker's blue/green deployment guardrails, as plain data.

``all_at_once`` is SageMaker's default (the new fleet takes all traffic once it is up; no bake, no rollback).
``canary`` sends ``traffic_percent`` of the traffic to the new fleet, bakes, then sends the rest; ``linear`` moves
``traffic_percent`` at a time, baking after each step. Both end with a final bake at full traffic before the old
fleet goes, and roll back to it when one of the stage's rollback alarms fires while they run.

The rules are SageMaker's (API reference, TrafficRoutingConfig and BlueGreenUpdatePolicy; botocore's shapes give
the same ranges): a canary is at most 50% of the fleet, a linear step 10-50%, a wait at most 3600 s, and the whole
deployment must finish within MaximumExecutionTimeoutInSeconds (600-28800 s), which must exceed its waits.
Plain Python, so the CLI reads it without the CDK.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

UPDATE_POLICIES = ("all_at_once", "canary", "linear")
CANARY_PERCENT_RANGE = (1, 50)
LINEAR_STEP_PERCENT_RANGE = (10, 50)
MAX_WAIT_MINUTES = 60  # WaitIntervalInSeconds and TerminationWaitInSeconds: at most 3600
# MaximumExecutionTimeoutInSeconds: 600..28800. The deployment also provisions the new fleet before the first
# shift; this much time is allowed for that on top of the waits.
MIN_EXECUTION_SECONDS, MAX_EXECUTION_SECONDS = 600, 28800
PROVISIONING_ALLOWANCE_MINUTES = 30
# The longest a rollback alarm needs to fire (its period x evaluation periods, stacks/serving.py): a bake shorter
# than this would end before the alarm could see the new model.
ROLLBACK_WINDOW_MINUTES = 5


@dataclass(frozen=True, kw_only=True)
class UpdatePolicy:
    kind: str
    traffic_percent: int
    bake_minutes: int
    final_bake_minutes: int

    @property
    def guarded(self) -> bool:
        """Whether traffic shifts in steps, baked and watched by the rollback alarms."""
        return self.kind != "all_at_once"

    def steps(self) -> list[int]:
        """Percent of the traffic on the new fleet after each shift."""
        if self.kind == "canary":
            return [self.traffic_percent, 100]
        if self.kind == "linear":
            count = math.ceil(100 / self.traffic_percent)
            return [min(100, self.traffic_percent * (i + 1)) for i in range(count)]
        return [100]

    @property
    def planned_minutes(self) -> int:
        """A bake after every shift but the last, then the final bake."""
        return self.bake_minutes * (len(self.steps()) - 1) + self.final_bake_minutes

    @property
    def timeout_seconds(self) -> int:
        return max(MIN_EXECUTION_SECONDS, (self.planned_minutes + PROVISIONING_ALLOWANCE_MINUTES) * 60)


def instances_shifted(percent: int, instances: int) -> int:
    """Instances of a fleet of ``instances`` that ``percent`` of the capacity takes: SageMaker shifts whole ones."""
    return math.ceil(percent * instances / 100)
