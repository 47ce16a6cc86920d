#!/usr/bin/env python3
"""CDK entry point: the only place that reads context and environment variables.

cdk synth -c stage=dev          # one stage (the default)
cdk synth -c stage=all          # dev, staging and prod
cdk deploy -c stage=prod 'Prod/*'
cdk deploy -c stage=delivery Delivery    # the pipeline that promotes all three
"""

from __future__ import annotations

import os
import sys

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from stacks.config import CONFIG_ERROR_PREFIX, ConfigError, StageConfig, load_stages, selected_stages
from stacks.delivery.config import DELIVERY_STACK_ID, DeliveryConfig, Release, check_against_stages
from stacks.delivery.stack import DeliveryStack
from stacks.stage import MlopsStage

DELIVERY = "delivery"


def build_app(app: App) -> list[MlopsStage]:
    """Add the selected stages (or the delivery pipeline with all three) and the cdk-nag gate to ``app``."""
    if app.node.try_get_context("stage") == DELIVERY:
        stages = build_delivery(app).stages
        Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    else:
        release = read_release(app)
        configs = read_stage_configs(app)
        if release is not None and len(configs) != 1:
            raise ConfigError(
                f"release: -c release applies to one stage, but {len(configs)} are selected. Fix: add -c stage=<name>."
            )
        if release is not None:
            for config in configs:
                release.check_served_by(config)
        stages = [MlopsStage(app, config=config, release=release) for config in configs]
    # Validation plugins apply per Stage: each stage's assembly is checked on its own.
    for stage in stages:
        Validations.of(stage).add_plugins(AwsSolutionsChecks(stage))
    return stages


def build_delivery(app: App) -> DeliveryStack:
    """The pipeline stack; every stage serves the release's package (none before the first approval)."""
    delivery = DeliveryConfig.from_mapping(app.node.try_get_context("delivery"), account=default_account(app))
    release = read_release(app) or Release(model_package_arn=None)
    # Stage accounts stay as configured: a null one deploys to the pipeline's own account. Each stage
    # serves its own verified copy of the release's model data.
    configs = load_stages(app.node.try_get_context("stages") or {}, "all")
    check_against_stages(delivery, configs)
    for config in configs:
        release.check_served_by(config)
    return DeliveryStack(app, DELIVERY_STACK_ID, config=delivery, stages=configs, release=release)


def read_release(app: App) -> Release | None:
    """``-c release=FILE``: what `python -m delivery_steps.release resolve` wrote (the delivery pipeline passes it)."""
    release_file = app.node.try_get_context("release")
    return Release.read(release_file) if release_file else None


def read_stage_configs(app: App) -> list[StageConfig]:
    stages = app.node.try_get_context("stages") or {}
    selection = str(app.node.try_get_context("stage") or "dev")
    model_package_arn = app.node.try_get_context("model_package_arn")
    if model_package_arn is not None and len(selected_stages(selection)) != 1:
        raise ConfigError(
            "model_package_arn: -c model_package_arn applies to one stage, but the selection is "
            f"{selection!r}. Fix: add -c stage=<name>, or set stages.<name>.model_package_arn in cdk.json."
        )
    return load_stages(stages, selection, default_account=default_account(app), model_package_arn=model_package_arn)


def default_account(app: App) -> str | None:
    """``-c account=...``, else the CLI's CDK_DEFAULT_ACCOUNT (set from the caller's credentials; absent offline)."""
    return app.node.try_get_context("account") or os.environ.get("CDK_DEFAULT_ACCOUNT")


def main() -> None:
    app = App()
    try:
        build_app(app)
    except ConfigError as error:
        sys.exit(f"{CONFIG_ERROR_PREFIX}{error}")
    app.synth()


if __name__ == "__main__":
    main()
