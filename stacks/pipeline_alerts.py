"""PipelineAlerts: a failed or stopped pipeline execution, or a failed step, notifies the stage's alert topic.

SageMaker Pipelines reports both to EventBridge. A step's event carries the step and its failure
reason; the execution's carries its final status, including an execution someone stopped.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct

from stacks.arns import arn
from stacks.operations_key import OperationsKey
from stacks.topics import encrypted_topic

EXECUTION_STATUS = "SageMaker Model Building Pipeline Execution Status Change"
STEP_STATUS = "SageMaker Model Building Pipeline Execution Step Status Change"
ALERTING_EXECUTION_STATUSES = ["Failed", "Stopped"]


class PipelineAlerts(Construct):
    """``topic`` (under the operations key) receives one message per failed step and per failed or stopped run."""

    def __init__(
        self, scope: Construct, construct_id: str, *, pipeline_names: Sequence[str], key: OperationsKey
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = encrypted_topic(self, "Topic", key=key, publisher="events.amazonaws.com")
        pipelines = [arn("sagemaker", f"pipeline/{name}") for name in pipeline_names]
        execution = events.EventField.from_path("$.detail.pipelineExecutionArn")
        self.execution_rule = events.Rule(
            self,
            "ExecutionRule",
            description="A pipeline execution of this stage failed or was stopped",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=[EXECUTION_STATUS],
                detail={"pipelineArn": pipelines, "currentPipelineExecutionStatus": ALERTING_EXECUTION_STATUSES},
            ),
            targets=[
                targets.SnsTopic(
                    self.topic,
                    message=events.RuleTargetInput.from_text(
                        f"Pipeline execution {execution} is "
                        f"{events.EventField.from_path('$.detail.currentPipelineExecutionStatus')}. "
                        "The failing step's own message says why; `textclf status` lists the steps."
                    ),
                )
            ],
        )
        self.step_rule = events.Rule(
            self,
            "StepRule",
            description="A step of a pipeline execution of this stage failed",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=[STEP_STATUS],
                detail={"pipelineArn": pipelines, "currentStepStatus": ["Failed"]},
            ),
            targets=[
                targets.SnsTopic(
                    self.topic,
                    message=events.RuleTargetInput.from_text(
                        f"Step {events.EventField.from_path('$.detail.stepName')} of pipeline execution {execution} "
                        f"failed: {events.EventField.from_path('$.detail.failureReason')}"
                    ),
                )
            ],
        )
