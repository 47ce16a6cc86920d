"""One CDK Stage per environment, so CodePipeline can deploy each as a unit."""

from __future__ import annotations

from aws_cdk import Aws, Environment, PermissionsBoundary, Stage
from constructs import Construct

from stacks.boundary import boundary_name
from stacks.config import MLOPS_STACK_ID, StageConfig
from stacks.delivery.config import Release
from stacks.mlops_stack import MlopsStack


def permissions_boundary(name_prefix: str) -> PermissionsBoundary:
    """The project's boundary (stacks/boundary.py), by ARN in the stack's own account: CDK refuses its name
    placeholders in a stack whose account is decided at deployment (a stage with ``account: null``)."""
    return PermissionsBoundary.from_arn(
        f"arn:{Aws.PARTITION}:iam::{Aws.ACCOUNT_ID}:policy/{boundary_name(name_prefix)}"
    )


class MlopsStage(Stage):
    def __init__(
        self,
        scope: Construct,
        *,
        config: StageConfig,
        delivery_account: str | None = None,
        forward_package_events: bool = False,
        release: Release | None = None,
        smoke_tested: bool = False,
    ) -> None:
        super().__init__(
            scope,
            config.construct_id,
            env=Environment(account=config.account, region=config.region),
            permissions_boundary=permissions_boundary(config.name_prefix),
        )
        self.config = config
        self.mlops = MlopsStack(
            self,
            MLOPS_STACK_ID,
            config=config,
            delivery_account=delivery_account,
            forward_package_events=forward_package_events,
            release=release,
            smoke_tested=smoke_tested,
        )
