"""The tooling-account stack: the delivery pipeline and the three stages it promotes."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aspects, Aws, CfnOutput, Environment, Stack, Tags
from constructs import Construct

from stacks.boundary import PROJECT_TAG
from stacks.config import StageConfig
from stacks.delivery.config import DeliveryConfig, Release
from stacks.delivery.nag import UNSCOPED_ACTIONS
from stacks.delivery.pipeline import Delivery, RegistrySource
from stacks.nag import AcknowledgeUnscopedActions
from stacks.stage import MlopsStage, permissions_boundary

# Stage → (manual approval first, smoke test after).
PROMOTION = {"dev": (False, False), "staging": (False, True), "prod": (True, True)}


class DeliveryStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeliveryConfig,
        stages: Sequence[StageConfig],
        release: Release,
    ) -> None:
        source_stage = next(stage for stage in stages if stage.name == config.model_source_stage)
        super().__init__(
            scope,
            construct_id,
            env=Environment(account=config.account, region=config.region),
            description="Delivery pipeline: promotes the text-classification stack and model dev -> staging -> prod",
            termination_protection=True,
            permissions_boundary=permissions_boundary(source_stage.name_prefix),
        )
        Tags.of(self).add(PROJECT_TAG, source_stage.name_prefix)
        Aspects.of(self).add(AcknowledgeUnscopedActions(UNSCOPED_ACTIONS))
        delivery_account = config.account or Aws.ACCOUNT_ID
        forwards = source_stage.account is not None and source_stage.account != config.account
        self.delivery = Delivery(
            self,
            "Delivery",
            config=config,
            registry=RegistrySource(
                group_name=source_stage.model_package_group_name,
                account=source_stage.account or delivery_account,
                region=source_stage.region,
                forwards_events=forwards,
            ),
        )
        self.stages = [
            MlopsStage(
                self,
                config=stage,
                delivery_account=delivery_account,
                forward_package_events=forwards and stage is source_stage,
                release=release,
                smoke_tested=PROMOTION[stage.name][1],
            )
            for stage in stages
        ]
        for stage in self.stages:
            approval, smoke_test = PROMOTION[stage.config.name]
            self.delivery.add_release_stage(stage, approval=approval, smoke_test=smoke_test)
        pipeline = self.delivery.build()
        CfnOutput(self, "PipelineName", value=pipeline.pipeline_name)
        CfnOutput(self, "ApprovalTopicArn", value=self.delivery.approval_topic.topic_arn)
        if self.delivery.source_bucket is not None:
            CfnOutput(
                self, "SourceUri", value=f"s3://{self.delivery.source_bucket.bucket_name}/{config.source_object_key}"
            )
