"""The per-environment stack: composes the constructs, wires grants, outputs."""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Stack, Tags
from constructs import Construct

from stacks.config import StageConfig
from stacks.images import images_for
from stacks.roles import Roles
from stacks.storage import Storage


class MlopsStack(Stack):
    """Storage and IAM for one environment; later issues add the pipeline, registry and serving."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"Text-classification MLOps on SageMaker ({config.name})",
            termination_protection=config.retain_stateful_resources,
            **kwargs,
        )
        Tags.of(self).add("project", config.name_prefix)
        Tags.of(self).add("stage", config.name)

        self.storage = Storage(
            self,
            "Storage",
            retain=config.retain_stateful_resources,
            checkpoint_retention=Duration.days(config.checkpoint_retention_days),
            noncurrent_version_retention=Duration.days(config.noncurrent_version_retention_days),
            access_log_retention=Duration.days(config.access_log_retention_days),
        )
        self.roles = Roles(
            self,
            "Roles",
            image_repository_arns=images_for(config.region).repository_arns,
            data_key=self.storage.key,
        )
        self._grant_data_access()
        self._output()

    def _grant_data_access(self) -> None:
        storage, roles = self.storage, self.roles
        for location in (storage.datasets, storage.base_models):
            location.grant_read(roles.training)
        storage.checkpoints.grant_read_write(roles.training)
        storage.training_output.grant_write(roles.training)

        storage.datasets.grant_read(roles.processing)
        storage.training_output.grant_read(roles.processing)
        storage.evaluations.grant_write(roles.processing)

        storage.training_output.grant_read(roles.model_execution)
        # The pipeline reads evaluation.json to decide whether to register the model.
        storage.evaluations.grant_read(roles.pipeline_execution)

    def _output(self) -> None:
        outputs = {
            "DatasetUri": self.storage.datasets.uri,
            "BaseModelUri": self.storage.base_models.uri,
            "ArtifactBucketName": self.storage.artifact_bucket.bucket_name,
            "CheckpointBucketName": self.storage.checkpoint_bucket.bucket_name,
            "DataKeyArn": self.storage.key.key_arn,
            "TrainingRoleArn": self.roles.training.role_arn,
            "ProcessingRoleArn": self.roles.processing.role_arn,
            "ModelExecutionRoleArn": self.roles.model_execution.role_arn,
            "PipelineExecutionRoleArn": self.roles.pipeline_execution.role_arn,
        }
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)
