#!/usr/bin/env python3
"""CDK entry point: the only place that reads context and environment variables.

    cdk synth -c stage=dev          # one stage (the default)
    cdk synth -c stage=all          # dev, staging and prod
    cdk deploy -c stage=prod 'Prod/*'
"""

from __future__ import annotations

import os
import sys

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from stacks.config import ConfigError, StageConfig, load_stages
from stacks.stage import MlopsStage


def build_app(app: App) -> list[MlopsStage]:
    """Add the selected stages and the cdk-nag gate to ``app``."""
    configs = read_stage_configs(app)
    stages = [MlopsStage(app, config=config) for config in configs]
    # Validation plugins apply per Stage: each stage's assembly is checked on its own.
    for stage in stages:
        Validations.of(stage).add_plugins(AwsSolutionsChecks(stage))
    return stages


def read_stage_configs(app: App) -> list[StageConfig]:
    stages = app.node.try_get_context("stages") or {}
    selection = str(app.node.try_get_context("stage") or "dev")
    # The CDK CLI sets CDK_DEFAULT_ACCOUNT from the caller's credentials; offline it is absent.
    account = app.node.try_get_context("account") or os.environ.get("CDK_DEFAULT_ACCOUNT")
    model_package_arn = app.node.try_get_context("model_package_arn")
    return load_stages(stages, selection, default_account=account, model_package_arn=model_package_arn)


def main() -> None:
    app = App()
    try:
        build_app(app)
    except ConfigError as error:
        sys.exit(f"Invalid stage configuration: {error}")
    app.synth()


if __name__ == "__main__":
    main()
