"""Delivery settings: one clear error per bad field, at synth, naming the fix."""

from __future__ import annotations

import copy

import pytest
from aws_cdk import App

import app as cdk_app
from stacks.config import ConfigError, StageConfig
from stacks.delivery.config import DeliveryConfig, check_against_stages

CONNECTION = "arn:aws:codeconnections:us-east-1:999988887777:connection/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"


@pytest.fixture
def delivery_settings(cdk_context) -> dict:
    return copy.deepcopy(cdk_context["delivery"])


def stage_configs(cdk_context, **overrides) -> list[StageConfig]:
    stages = copy.deepcopy(cdk_context["stages"])
    for key, value in overrides.items():
        stage, field = key.split("__")
        stages[stage][field] = value
    return [StageConfig.from_mapping(name, stages[name]) for name in ("dev", "staging", "prod")]


def test_the_shipped_settings_use_the_s3_source(delivery_settings):
    config = DeliveryConfig.from_mapping(delivery_settings)
    assert not config.uses_connection
    assert config.model_source_stage == "dev"


def test_a_connection_source_needs_its_repository(delivery_settings):
    config = DeliveryConfig.from_mapping({**delivery_settings, "connection_arn": CONNECTION, "repository": "org/repo"})
    assert config.uses_connection
    with pytest.raises(ConfigError, match=r"^delivery\.repository: must be owner/name when connection_arn is set"):
        DeliveryConfig.from_mapping({**delivery_settings, "connection_arn": CONNECTION})


@pytest.mark.parametrize(
    "field, value, message",
    [
        (
            "connection_arn",
            "arn:aws:codecommit:us-east-1:111122223333:repo",
            "not a CodeStar (CodeConnections) connection ARN",
        ),
        ("account", "12345", "not a 12-digit AWS account id"),
        ("source_object_key", "source/textclf.tar", "must be an S3 key ending in .zip"),
        ("model_source_stage", "qa", "not a stage"),
        ("smoke_cases", "cases.csv", "must be a .jsonl file"),
        ("smoke_latency_p95_ms", 0, "must be within 1..60000"),
        ("smoke_min_accuracy", 1.5, "must be a fraction within (0, 1]"),
        ("smoke_min_accuracy", True, "must be float"),
        ("branch", " ", "must name a branch"),
    ],
)
def test_each_bad_field_is_named_with_its_fix(delivery_settings, field, value, message):
    with pytest.raises(ConfigError) as error:
        DeliveryConfig.from_mapping({**delivery_settings, field: value})
    text = str(error.value)
    assert text.startswith(f"delivery.{field}: ") and message in text and "Fix:" in text


def test_unknown_and_missing_settings_are_named(delivery_settings):
    with pytest.raises(ConfigError, match=r"^delivery\.smoke_latency: unknown setting"):
        DeliveryConfig.from_mapping({**delivery_settings, "smoke_latency": 3})
    del delivery_settings["branch"]
    with pytest.raises(ConfigError, match=r"^delivery\.branch: missing"):
        DeliveryConfig.from_mapping(delivery_settings)
    with pytest.raises(ConfigError, match=r"^delivery: not defined"):
        DeliveryConfig.from_mapping(None)


def test_stage_accounts_need_an_explicit_tooling_account(cdk_context, delivery_settings):
    config = DeliveryConfig.from_mapping(delivery_settings)
    with pytest.raises(ConfigError, match=r"^delivery\.account: must be set when stages\.prod\.account is"):
        check_against_stages(config, stage_configs(cdk_context, prod__account="333333333333"))
    tooling = DeliveryConfig.from_mapping({**delivery_settings, "account": "999999999999"})
    check_against_stages(
        tooling,
        stage_configs(cdk_context, prod__account="333333333333", dev__registry_consumer_accounts=["333333333333"]),
    )


def test_accounts_that_read_the_registry_must_be_its_consumers(cdk_context, delivery_settings):
    tooling = DeliveryConfig.from_mapping({**delivery_settings, "account": "999999999999"})
    with pytest.raises(
        ConfigError,
        match=r"^stages\.dev\.registry_consumer_accounts: must include 999999999999, "
        r"because the delivery pipeline resolves releases from it",
    ):
        check_against_stages(tooling, stage_configs(cdk_context, dev__account="111111111111"))
    with pytest.raises(ConfigError, match=r"must include 222222222222, because stages\.staging serves its packages"):
        check_against_stages(
            tooling,
            stage_configs(
                cdk_context,
                dev__account="111111111111",
                staging__account="222222222222",
                dev__registry_consumer_accounts=["999999999999"],
            ),
        )


def test_every_stage_must_be_in_the_registry_region(cdk_context, delivery_settings):
    config = DeliveryConfig.from_mapping(delivery_settings)
    with pytest.raises(ConfigError, match=r"^stages\.prod\.region: the release comes from stages\.dev's registry"):
        check_against_stages(config, stage_configs(cdk_context, prod__region="eu-west-1"))


def test_bad_delivery_settings_fail_the_app_before_anything_is_built(cdk_context):
    context = copy.deepcopy(cdk_context)
    context["delivery"]["smoke_min_accuracy"] = 0
    with pytest.raises(ConfigError, match=r"^delivery\.smoke_min_accuracy"):
        cdk_app.build_app(App(context={**context, "stage": "delivery"}))
