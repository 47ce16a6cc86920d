"""PipelineAlerts: a failed or stopped pipeline execution, or a failed step, notifies the stage's alert topic.

SageMaker Pipelines reports both to EventBridge. A step's event carries the step and its failure
reason; the execution's carries its final status, including an execution someone stopped.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_events as events
from constructs import Construct

from stacks.operations_key import OperationsKey
from stacks.topics import RuleToTopic, encrypted_topic

EXECUTION_STATUS = "SageMaker Model Building Pipeline Execution Status Change"
STEP_STATUS = "SageMaker Model Building Pipeline Execution Step Status Change"
ALERTING_EXECUTION_STATUSES = ["Failed", "Stopped"]


class PipelineAlerts(Construct):
    """``topic`` (under the operations key) receives one message per failed step and per failed or stopped run."""

    def __init__(
        self, scope: Construct, construct_id: str, *, stage: str, pipeline_arns: Sequence[str], key: OperationsKey
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = encrypted_topic(self, "Topic", key=key, publisher="events.amazonaws.com")
        self._pipeline_arns = list(pipeline_arns)
        execution = events.EventField.from_path("$.detail.pipelineExecutionArn")
        status = events.EventField.from_path("$.detail.currentPipelineExecutionStatus")
        step, reason = (events.EventField.from_path(f"$.detail.{field}") for field in ("stepName", "failureReason"))
        more = f"Every step with its duration: textclf status --stage {stage}"
        self.execution_rule = self._rule(
            "ExecutionRule",
            "A pipeline execution of this stage failed or was stopped",
            EXECUTION_STATUS,
            {"currentPipelineExecutionStatus": ALERTING_EXECUTION_STATUSES},
            f"Pipeline execution {execution} is {status}. The step alert says which step failed and why. {more}",
        )
        self.step_rule = self._rule(
            "StepRule",
            "A step of a pipeline execution of this stage failed",
            STEP_STATUS,
            {"currentStepStatus": ["Failed"]},
            f"Step {step} of pipeline execution {execution} failed: {reason}. {more}",
        )

    def _rule(self, construct_id: str, description: str, detail_type: str, status: dict, message: str) -> events.Rule:
        """SageMaker's ``detail_type`` events of this stage's pipelines in ``status``, to the topic as ``message``."""
        return events.Rule(
            self,
            construct_id,
            description=description,
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=[detail_type],
                detail={"pipelineArn": self._pipeline_arns, **status},
            ),
            targets=[RuleToTopic(self.topic, message=events.RuleTargetInput.from_text(message))],
        )
