"""Training pipeline: the SageMaker Pipeline, its code bundle, and what starts it."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from stacks import source_bundle
from stacks.arns import arn
from stacks.storage import S3Location
from training import contract

BUNDLE_PATH = source_bundle.ROOT / ".build" / "sourcedir.tar.gz"


class CodeBundle(Construct):
    """sourcedir.tar.gz as a CDK asset: same code, same bytes, same hash."""

    def __init__(self, scope: Construct, construct_id: str, *, path: Path = BUNDLE_PATH) -> None:
        super().__init__(scope, construct_id)
        self.asset = s3_assets.Asset(self, "Asset", path=str(source_bundle.build(path)))
        self.uri = self.asset.s3_object_url
        # The object's name in the bucket (its content hash): where an S3Prefix input puts the file.
        self.file_name = self.asset.s3_object_key

    def grant_read(self, grantee: iam.IGrantable) -> None:
        # Exactly one object: no wildcard on the CDK assets bucket. SageMaker lists an S3Prefix input
        # before it downloads it, so listing is granted too, for that one key only.
        principal = grantee.grant_principal
        principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[arn("s3", f"{self.asset.s3_bucket_name}/{self.asset.s3_object_key}", region="", account="")],
            )
        )
        principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[arn("s3", self.asset.s3_bucket_name, region="", account="")],
                conditions={"StringEquals": {"s3:prefix": self.asset.s3_object_key}},
            )
        )


class TrainingPipeline(Construct):
    """A pipeline, started by the operator CLI and, optionally, by a new dataset, a schedule and alarms.

    ``dataset``: a new ``manifest.json`` there starts one execution. `textclf data upload` writes it after
    the splits, so an upload of any number of files starts exactly one execution.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        pipeline_name: str,
        description: str,
        definition: dict,
        execution_role: iam.IRole,
        dataset: S3Location | None = None,
        schedule: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.definition = definition
        self.pipeline = sagemaker.CfnPipeline(
            self,
            "Pipeline",
            # The API requires a name; derived from the stage config so `textclf pipeline start` finds it offline.
            pipeline_name=pipeline_name,
            pipeline_description=description,
            role_arn=execution_role.role_arn,
            pipeline_definition={"PipelineDefinitionBody": Stack.of(self).to_json_string(self.definition)},
        )
        self.arn = arn("sagemaker", f"pipeline/{pipeline_name.lower()}")
        self.trigger_role: iam.Role | None = None
        self.data_rule = (
            self._rule(
                "NewTrainingDataRule",
                "A new dataset manifest: one per upload, written after its splits",
                event_pattern={
                    "source": ["aws.s3"],
                    "detail-type": ["Object Created"],
                    "detail": {
                        "bucket": {"name": [dataset.bucket.bucket_name]},
                        "object": {"key": [f"{dataset.prefix}{contract.DATASET_MANIFEST_FILE}"]},
                    },
                },
            )
            if dataset is not None
            else None
        )
        self.schedule_rule = (
            self._rule("ScheduleRule", "Scheduled retraining", schedule_expression=schedule) if schedule else None
        )
        self.alarm_rule: events.CfnRule | None = None

    def start_on_alarms(self, alarm_arns: list[str]) -> None:
        """Start an execution each time one of these alarms goes into ALARM (CloudWatch's alarm state change event)."""
        self.alarm_rule = self._rule(
            "AlarmRule",
            "Retraining when the served model's answers fall under the gate's floors",
            event_pattern={
                "source": ["aws.cloudwatch"],
                "detail-type": ["CloudWatch Alarm State Change"],
                "resources": alarm_arns,
                "detail": {"state": {"value": ["ALARM"]}},
            },
        )

    def _rule(self, construct_id: str, description: str, **trigger) -> events.CfnRule:
        if self.trigger_role is None:
            self.trigger_role = iam.Role(
                self,
                "TriggerRole",
                assumed_by=iam.ServicePrincipal("events.amazonaws.com"),
                description="Lets EventBridge start this pipeline and nothing else",
            )
            self.trigger_role.add_to_policy(
                iam.PolicyStatement(actions=["sagemaker:StartPipelineExecution"], resources=[self.arn])
            )
        return events.CfnRule(
            self,
            construct_id,
            description=description,
            state="ENABLED",
            targets=[
                events.CfnRule.TargetProperty(
                    # No parameters: the execution uses the pipeline's defaults, which point at these prefixes.
                    id="StartTrainingPipeline",
                    arn=self.arn,
                    role_arn=self.trigger_role.role_arn,
                )
            ],
            **trigger,
        )
