"""Stage configuration: every bad value fails with one message naming the field."""

from __future__ import annotations

import pytest

from stacks.config import STAGE_NAMES, ConfigError, StageConfig, load_stages


def test_every_shipped_stage_is_valid(cdk_context):
    configs = load_stages(cdk_context["stages"], "all")
    assert [c.name for c in configs] == ["dev", "staging", "prod"]
    assert all(c.account is None for c in configs), "no account id may be committed"


def test_configs_are_frozen(stage_settings):
    config = StageConfig.from_mapping("dev", stage_settings)
    with pytest.raises(AttributeError):
        config.use_spot = False


def test_account_comes_from_the_caller_when_unset(stage_settings):
    config = StageConfig.from_mapping("dev", stage_settings, account="123456789012")
    assert config.account == "123456789012"


def test_explicit_account_wins_over_the_caller(stage_settings):
    stage_settings["account"] = "210987654321"
    config = StageConfig.from_mapping("dev", stage_settings, account="123456789012")
    assert config.account == "210987654321"


def test_selection_accepts_a_list(cdk_context):
    assert [c.name for c in load_stages(cdk_context["stages"], "dev,prod")] == ["dev", "prod"]


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("serverless_memory_mb", 1500, "stages.dev.serverless_memory_mb: must be one of 1024..6144"),
        ("serverless_memory_mb", 7168, "stages.dev.serverless_memory_mb"),
        ("serverless_max_concurrency", 0, "stages.dev.serverless_max_concurrency: must be within 1..200"),
        ("serverless_max_concurrency", 201, "stages.dev.serverless_max_concurrency"),
        ("serverless_provisioned_concurrency", 6, "stages.dev.serverless_provisioned_concurrency"),
        ("max_wait_seconds", 3600, "stages.dev.max_wait_seconds: must be >= max_runtime_seconds"),
        ("max_runtime_seconds", 0, "stages.dev.max_runtime_seconds"),
        ("account", "12345", "stages.dev.account: not a 12-digit AWS account id"),
        ("account", 123456789012, "stages.dev.account: must be str | None"),
        ("region", "mars-north-1", "stages.dev.region: no Hugging Face DLC is pinned"),
        ("name_prefix", "Text Clf", "stages.dev.name_prefix"),
        (
            "training_instance_type",
            "g5.xlarge",
            "stages.dev.training_instance_type: not a SageMaker TrainingInstanceType",
        ),
        (
            "training_instance_type",
            "ml.g5.xlarg",
            "stages.dev.training_instance_type: not a SageMaker TrainingInstance",
        ),
        # Evaluation runs on it, and the pipeline's batch transform job too: it must be valid for both APIs.
        ("processing_instance_type", "ml.t3.medium", "stages.dev.processing_instance_type: not a SageMaker Transform"),
        ("training_instance_count", 0, "stages.dev.training_instance_count"),
        # Issue 33: what the training job runs on and how its data arrives.
        ("training_instance_type", "ml.m5.xlarge", "stages.dev.training_instance_type: has no GPU"),
        ("training_input_mode", "Stream", "stages.dev.training_input_mode: not a SageMaker TrainingInputMode"),
        ("training_input_mode", "Pipe", "stages.dev.training_input_mode: Pipe hands each channel to the job as a FIFO"),
        ("training_distribution", "ddp", "stages.dev.training_distribution: must be one of torch_distributed, none"),
        # Issue 34: a drift alarm evaluates one window; CloudWatch evaluates at most a day of data.
        ("monitor_window_minutes", 2, "stages.dev.monitor_window_minutes: must be 5..1440 minutes"),
        ("monitor_window_minutes", 1441, "stages.dev.monitor_window_minutes: must be 5..1440 minutes"),
        ("monitor_min_requests", 0, "stages.dev.monitor_min_requests: must be within 1..1000000"),
        ("drift_class_mix_max", 1.0, "stages.dev.drift_class_mix_max: must be within (0, 1): a Jensen-Shannon"),
        ("drift_length_max", 0.0, "stages.dev.drift_length_max: must be within (0, 1)"),
        ("drift_confidence_drop_max", -0.1, "stages.dev.drift_confidence_drop_max: must be within (0, 1)"),
        ("drift_class_mix_max", "0.03", "stages.dev.drift_class_mix_max: must be float"),
        # dev serves serverless as shipped: nothing is captured, so there is no quality alarm to retrain on.
        ("retrain_on_quality_alarm", True, "stages.dev.retrain_on_quality_alarm: the quality alarms judge captured"),
        ("use_spot", "false", "stages.dev.use_spot: must be bool"),
        ("training_instance_count", True, "stages.dev.training_instance_count: must be int"),
        ("checkpoint_retention_days", 0, "stages.dev.checkpoint_retention_days"),
        ("alarm_latency_p99_ms", 0, "stages.dev.alarm_latency_p99_ms"),
        ("alarm_saturated_minutes", 16, "stages.dev.alarm_saturated_minutes: must be within 1..15"),
        (
            "model_package_arn",
            "arn:aws:sagemaker:us-east-1:111122223333:model-package-group/textclf",
            "stages.dev.model_package_arn: not a versioned SageMaker model package ARN",
        ),
        (
            "model_package_arn",
            "arn:aws:sagemaker:eu-west-1:111122223333:model-package/textclf/3",
            "stages.dev.model_package_arn: is in eu-west-1, but this stage deploys to us-east-1",
        ),
        ("serve_int8", "yes", "stages.dev.serve_int8: must be bool"),
        ("serving_mode", "provisioned", "stages.dev.serving_mode: must be one of serverless, realtime"),
        (
            "realtime_instance_type",
            "c6i.xlarge",
            "stages.dev.realtime_instance_type: not a SageMaker ProductionVariant",
        ),
        ("realtime_min_instances", 0, "stages.dev.realtime_min_instances: must be at least 1"),
        ("realtime_max_instances", 0, "stages.dev.realtime_max_instances: must be at least realtime_min_instances"),
        ("realtime_invocations_per_instance", 0, "stages.dev.realtime_invocations_per_instance: must be at least 1"),
        ("data_capture_percent", -1, "stages.dev.data_capture_percent: must be a percentage within 0..100"),
        ("data_capture_percent", 20, "stages.dev.data_capture_percent: needs serving_mode realtime"),
        ("min_accuracy", 85, "stages.dev.min_accuracy: must be a fraction within 0..1"),
        ("min_accuracy", "0.9", "stages.dev.min_accuracy: must be float"),
        ("regression_margin", -0.1, "stages.dev.regression_margin: must be a fraction within 0..1"),
        ("base_model", "s3://bucket/model", "stages.dev.base_model: must be a folder name under base-models/"),
        ("teacher_base_model", "../bert", "stages.dev.teacher_base_model: must be a folder name under base-models/"),
        ("min_class_recall", 70, "stages.dev.min_class_recall: must be a fraction within 0..1"),
        ("min_teacher_ratio", 1.5, "stages.dev.min_teacher_ratio: must be a fraction within 0..1"),
        ("pipeline_schedule", "every monday", "stages.dev.pipeline_schedule: not an EventBridge schedule expression"),
        ("registry_consumer_accounts", ["12345"], "stages.dev.registry_consumer_accounts: '12345' is not a 12-digit"),
        ("registry_consumer_accounts", "012345678901", "stages.dev.registry_consumer_accounts: must be list"),
        ("training_network_isolation", 1, "stages.dev.training_network_isolation: must be bool"),
    ],
)
def test_bad_value_names_the_field_and_the_fix(stage_settings, field, value, expected):
    stage_settings[field] = value
    with pytest.raises(ConfigError) as error:
        StageConfig.from_mapping("dev", stage_settings)
    assert expected in str(error.value)
    assert "Fix:" in str(error.value)


def test_max_wait_is_free_without_spot(stage_settings):
    stage_settings.update(use_spot=False, max_wait_seconds=0)
    assert StageConfig.from_mapping("dev", stage_settings).use_spot is False


def test_unknown_stage_is_rejected(cdk_context):
    with pytest.raises(ConfigError, match=r"stage: unknown stage 'qa'.*dev, staging, prod"):
        load_stages(cdk_context["stages"], "qa")


def test_typo_in_a_setting_is_rejected(stage_settings):
    stage_settings["use_spots"] = True
    with pytest.raises(ConfigError, match=r"stages.dev.use_spots: unknown setting"):
        StageConfig.from_mapping("dev", stage_settings)


def test_missing_setting_is_rejected(stage_settings):
    del stage_settings["serverless_memory_mb"]
    with pytest.raises(ConfigError, match=r"stages.dev.serverless_memory_mb: missing"):
        StageConfig.from_mapping("dev", stage_settings)


def test_prod_must_retain_its_data(cdk_context):
    settings = dict(cdk_context["stages"]["prod"], retain_stateful_resources=False)
    with pytest.raises(ConfigError, match=r"stages.prod.retain_stateful_resources"):
        StageConfig.from_mapping("prod", settings)


def test_checkpoints_outlive_the_longest_spot_job(stage_settings):
    stage_settings.update(max_runtime_seconds=86400, max_wait_seconds=8 * 86400, checkpoint_retention_days=7)
    with pytest.raises(ConfigError, match=r"stages.dev.checkpoint_retention_days: checkpoints would expire"):
        StageConfig.from_mapping("dev", stage_settings)


def test_null_settings_dropped_by_the_cdk_cli_default_to_none(stage_settings):
    del stage_settings["model_package_arn"]
    assert StageConfig.from_mapping("dev", stage_settings).model_package_arn is None


def test_model_package_from_the_command_line_overrides_one_stage(cdk_context):
    arn = "arn:aws:sagemaker:us-east-1:111122223333:model-package/textclf-dev/4"
    (config,) = load_stages(cdk_context["stages"], "dev", model_package_arn=arn)
    assert config.model_package_arn == arn


def test_pipeline_and_registry_names_derive_from_the_stage(stage_settings):
    config = StageConfig.from_mapping("dev", {**stage_settings, "pipeline_schedule": "cron(0 3 ? * MON *)"})
    assert (config.pipeline_name, config.model_package_group_name) == ("textclf-dev-training", "textclf-dev")
    assert config.distillation_pipeline_name == "textclf-dev-distillation"


def test_a_renamed_setting_names_its_new_key_and_why(stage_settings):
    """serverless_int8 also decided realtime serving, batch scoring and evaluation: it is serve_int8 now."""
    stage_settings["serverless_int8"] = stage_settings.pop("serve_int8")
    with pytest.raises(ConfigError) as error:
        StageConfig.from_mapping("dev", stage_settings)
    assert str(error.value).startswith("stages.dev.serverless_int8: renamed to serve_int8: it decides int8 serving")
    assert str(error.value).endswith("Fix: rename the key in cdk.json.")


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"update_policy": "blue_green"}, "stages.dev.update_policy: must be one of all_at_once, canary, linear"),
        (
            {"update_policy": "canary", "update_traffic_percent": 60},
            "stages.dev.update_traffic_percent: a canary must be 1..50% of the fleet's capacity",
        ),
        (
            {"update_policy": "linear", "update_traffic_percent": 5},
            "stages.dev.update_traffic_percent: a linear step must be 10..50% of the fleet's capacity",
        ),
        # The rollback alarms need five minutes of the new model's metrics.
        (
            {"update_policy": "canary", "update_traffic_percent": 25, "update_bake_minutes": 2},
            "stages.dev.update_bake_minutes: must be 5..60 minutes",
        ),
        (
            {"update_policy": "linear", "update_traffic_percent": 20, "update_final_bake_minutes": 0},
            "stages.dev.update_final_bake_minutes: must be 5..60 minutes",
        ),
        (
            {"update_policy": "canary", "update_traffic_percent": 25, "update_bake_minutes": 61},
            "stages.dev.update_bake_minutes: must be 5..60 minutes",
        ),
        # Ten linear steps, nine hour-long bakes between them: past SageMaker's 8-hour MaximumExecutionTimeoutInSeconds.
        (
            {"update_policy": "linear", "update_traffic_percent": 10, "update_bake_minutes": 60},
            "stages.dev.update_bake_minutes: the update would take 545 minutes of baking, past SageMaker's 8-hour",
        ),
        # SageMaker shifts whole instances: a canary of one instance of one is the whole fleet.
        (
            {"update_policy": "canary", "serving_mode": "realtime", "realtime_min_instances": 1},
            "stages.dev.realtime_min_instances: a canary of 25% shifts 1 of 1 instance(s), over half the fleet",
        ),
        (
            {
                "update_policy": "linear",
                "serving_mode": "realtime",
                "update_traffic_percent": 40,
                "realtime_min_instances": 3,
                "realtime_max_instances": 3,
            },
            "stages.dev.realtime_min_instances: a linear step of 40% shifts 2 of 3 instance(s)",
        ),
    ],
)
def test_an_update_policy_sagemaker_would_refuse_fails_synth_naming_the_field(stage_settings, overrides, expected):
    settings = {
        **stage_settings,
        "update_traffic_percent": 25,
        "update_bake_minutes": 5,
        "update_final_bake_minutes": 5,
        "realtime_min_instances": 2,
        **overrides,
    }
    with pytest.raises(ConfigError) as error:
        StageConfig.from_mapping("dev", settings)
    assert expected in str(error.value) and "Fix:" in str(error.value)


def test_the_shipped_stages_update_all_at_once_in_dev_by_canary_in_staging_and_linearly_in_prod(cdk_context):
    stages = {name: StageConfig.from_mapping(name, cdk_context["stages"][name]) for name in STAGE_NAMES}
    assert [stages[name].update.steps() for name in STAGE_NAMES] == [[100], [25, 100], [20, 40, 60, 80, 100]]
    assert stages["staging"].update.planned_minutes == 5 + 5 and stages["prod"].update.planned_minutes == 4 * 5 + 10
    # Either serving mode: realtime stages that update in steps run two instances or more.
    for name in ("staging", "prod"):
        realtime = {**cdk_context["stages"][name], "serving_mode": "realtime"}
        assert StageConfig.from_mapping(name, realtime).update.guarded


def test_the_training_gpu_rule_is_the_sagemaker_sdks_for_every_training_type_botocore_knows():
    from sagemaker.core.fw_utils import _is_gpu_instance

    from stacks import instances

    for instance_type in instances.accepted(instances.TRAINING):
        assert instances.has_gpu(instance_type) == _is_gpu_instance(instance_type), instance_type


def test_several_instances_without_a_distribution_are_refused_and_one_instance_is_not(stage_settings):
    """Without torchrun each instance trains alone: N-1 of them are paid for and their models thrown away."""
    stage_settings.update(training_distribution="none", training_instance_count=2)
    with pytest.raises(ConfigError) as error:
        StageConfig.from_mapping("dev", stage_settings)
    assert str(error.value).startswith('stages.dev.training_distribution: "none" with training_instance_count 2')
    assert "Fix:" in str(error.value)
    stage_settings.update(training_instance_count=1)
    assert StageConfig.from_mapping("dev", stage_settings).training_distribution == "none"


def test_stages_given_on_the_command_line_instead_of_stage_is_named_as_that_typo():
    """Issue 47: `cdk synth -c stages=prod` said "stages.dev: not defined" though cdk.json was fine."""
    with pytest.raises(ConfigError, match=r"stages: 'prod' replaced .* -c stage=prod \(singular\)"):
        load_stages("prod", "all")  # type: ignore[arg-type]  # what -c stages=prod hands app.py
