"""Typed, frozen per-environment configuration, validated once at synth.

Stage settings live in ``cdk.json`` under ``context.stages``; ``app.py`` reads
them and builds one :class:`StageConfig` per stage. Every problem is reported as
``stages.<stage>.<field>: <what is wrong>. Fix: <what to do>`` so a typo in
``cdk.json`` or ``-c`` fails synth with one message that names the field.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from stacks import instances
from stacks.images import supported_regions
from stacks.monitor_settings import MonitorSettings
from stacks.update_policy import (
    CANARY_PERCENT_RANGE,
    LINEAR_STEP_PERCENT_RANGE,
    MAX_EXECUTION_SECONDS,
    MAX_WAIT_MINUTES,
    ROLLBACK_WINDOW_MINUTES,
    UPDATE_POLICIES,
    UpdatePolicy,
    instances_shifted,
)

# The tag every resource of a stage carries, its jobs included: IAM tells one stage's jobs from another's by it.
STAGE_TAG = "stage"
STAGE_NAMES = ("dev", "staging", "prod")
# What app.py prints before a ConfigError; `textclf synth` finds the error's one line by it.
CONFIG_ERROR_PREFIX = "Invalid stage configuration: "
# The stage's stack inside its CDK Stage (``<Stage>-<id>`` once synthesized, e.g. Dev-Mlops).
MLOPS_STACK_ID = "Mlops"

# AWS Lambda-style limits documented for SageMaker Serverless Inference.
SERVERLESS_MEMORY_CHOICES_MB = (1024, 2048, 3072, 4096, 5120, 6144)
SERVERLESS_MAX_CONCURRENCY_RANGE = (1, 200)
SERVING_MODES = ("serverless", "realtime")
# How the DLC's toolkit starts train.py: under torchrun on every GPU of every instance (the job sets
# sagemaker_torch_distributed_enabled), or as one plain process per instance.
TORCH_DISTRIBUTED = "torch_distributed"
NO_DISTRIBUTION = "none"
TRAINING_DISTRIBUTIONS = (TORCH_DISTRIBUTED, NO_DISTRIBUTION)
# The input mode that train.py cannot read: a FIFO per channel and epoch, not files.
PIPE = "Pipe"
# CreateTrainingJob's StoppingCondition allows at most 28 days.
MAX_TRAINING_SECONDS = 28 * 24 * 3600
# The throttling alarm looks at this many one-minute periods.
SATURATION_WINDOW_MINUTES = 15
# A drift window: at least 5 minutes of signals, at most the day of data CloudWatch evaluates for one alarm.
MONITOR_WINDOW_MINUTES = (5, 1440)
# Training jobs write their model.tar.gz under this prefix of the stage's artifact bucket.
MODEL_DATA_PREFIX = "training-jobs/"

_PACKAGE_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:sagemaker:(?P<region>[a-z0-9-]+):\d{12}:model-package/[A-Za-z0-9](-*[A-Za-z0-9]){0,62}/\d+$"
)
_ACCOUNT_RE = re.compile(r"^\d{12}$")
_MODEL_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_SCHEDULE_RE = re.compile(r"^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\([^()]+\))$")
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9-]{1,19}$")


# Settings renamed since a release: the old key fails synth, naming the new one and why.
RENAMED_SETTINGS = {
    "serverless_int8": (
        "serve_int8",
        "it decides int8 serving in both serving modes, for batch scoring and for the evaluation that gates it",
    ),
}
# Settings that may be null in cdk.json, which the CDK CLI then drops from the context.
OPTIONAL_SETTINGS = {"account": None, "model_package_arn": None, "pipeline_schedule": None}


class ConfigError(ValueError):
    """A stage setting is missing, mistyped or out of range."""


def artifact_bucket_name(name_prefix: str, stage: str, account: str, region: str) -> str:
    """The stage's model-artifact bucket. Named, not generated, so that a stage serving a release may read the
    source stage's training outputs and nothing else in that account (issue 30); the account id in the name
    keeps any other account from taking it first. At most 20 + 7 + 8 + 12 + 15 = 62 characters."""
    return f"{name_prefix}-{stage}-models-{account}-{region}"


@dataclass(frozen=True, kw_only=True)
class StageConfig:
    """Everything that differs between dev, staging and prod."""

    name: str
    account: str | None
    region: str
    name_prefix: str
    model_package_arn: str | None
    training_instance_type: str
    training_instance_count: int
    training_input_mode: str
    training_distribution: str
    processing_instance_type: str
    use_spot: bool
    training_network_isolation: bool
    base_model: str
    teacher_base_model: str
    max_runtime_seconds: int
    max_wait_seconds: int
    serverless_memory_mb: int
    serverless_max_concurrency: int
    serverless_provisioned_concurrency: int
    serve_int8: bool
    serving_mode: str
    realtime_instance_type: str
    realtime_min_instances: int
    realtime_max_instances: int
    realtime_invocations_per_instance: int
    data_capture_percent: int
    update_policy: str
    update_traffic_percent: int
    update_bake_minutes: int
    update_final_bake_minutes: int
    alarm_latency_p99_ms: int
    alarm_5xx_errors: int
    alarm_saturated_minutes: int
    monitor_window_minutes: int
    monitor_min_requests: int
    drift_class_mix_max: float
    drift_confidence_drop_max: float
    drift_length_max: float
    retrain_on_quality_alarm: bool
    checkpoint_retention_days: int
    noncurrent_version_retention_days: int
    access_log_retention_days: int
    data_capture_retention_days: int
    retain_stateful_resources: bool
    min_accuracy: float
    regression_margin: float
    min_class_recall: float
    min_teacher_ratio: float
    pipeline_schedule: str | None
    registry_consumer_accounts: list

    def __post_init__(self) -> None:
        check_types(self, f"stages.{self.name}")
        for check in _CHECKS:
            check(self)

    @property
    def construct_id(self) -> str:
        """PascalCase Stage id, e.g. ``Dev``; also the stack-name prefix."""
        return stage_construct_id(self.name)

    @property
    def stack_name(self) -> str:
        """The stage stack's name in CloudFormation and in the cloud assembly, e.g. ``Dev-Mlops``."""
        return stage_stack_name(self.name)

    @property
    def update(self) -> UpdatePolicy:
        return UpdatePolicy(
            kind=self.update_policy,
            traffic_percent=self.update_traffic_percent,
            bake_minutes=self.update_bake_minutes,
            final_bake_minutes=self.update_final_bake_minutes,
        )

    @property
    def monitor(self) -> MonitorSettings:
        return MonitorSettings(
            window_minutes=self.monitor_window_minutes,
            min_requests=self.monitor_min_requests,
            class_mix_max=self.drift_class_mix_max,
            confidence_drop_max=self.drift_confidence_drop_max,
            length_max=self.drift_length_max,
        )

    @property
    def pipeline_name(self) -> str:
        """SageMaker requires a name; derived from config so the operator CLI finds it without AWS lookups."""
        return f"{self.name_prefix}-{self.name}-training"

    @property
    def distillation_pipeline_name(self) -> str:
        return f"{self.name_prefix}-{self.name}-distillation"

    @property
    def model_package_group_name(self) -> str:
        return f"{self.name_prefix}-{self.name}"

    @classmethod
    def from_mapping(
        cls,
        name: str,
        raw: Mapping[str, Any],
        *,
        account: str | None = None,
        model_package_arn: str | None = None,
    ) -> StageConfig:
        """Build from a ``cdk.json`` stage entry; ``account`` fills a null one, ``model_package_arn`` overrides."""
        if name not in STAGE_NAMES:
            raise ConfigError(
                f"stage: unknown stage {name!r}. Fix: use one of {', '.join(STAGE_NAMES)}"
                ", all, or delivery (the pipeline), e.g. `cdk synth -c stage=dev`."
            )
        if not isinstance(raw, Mapping):
            raise ConfigError(f"stages.{name}: expected an object of settings in cdk.json.")
        fields = {f.name for f in dataclasses.fields(cls)} - {"name"}
        values = settings(f"stages.{name}", raw, fields, OPTIONAL_SETTINGS)
        if values["account"] is None:
            values["account"] = account
        if model_package_arn is not None:
            values["model_package_arn"] = model_package_arn
        return cls(name=name, **values)


def stage_construct_id(stage: str) -> str:
    return stage.capitalize()


def stage_stack_name(stage: str) -> str:
    """``dev`` -> ``Dev-Mlops``: the stack a CDK Stage named after the stage holds (stacks.stage.MlopsStage)."""
    return f"{stage_construct_id(stage)}-{MLOPS_STACK_ID}"


def settings(prefix: str, raw: Mapping[str, Any], fields: set[str], optional: Mapping[str, Any]) -> dict:
    """``raw`` with its optional settings filled in; an unknown or missing setting fails, named."""
    renamed = sorted(set(raw) & set(RENAMED_SETTINGS))
    if renamed:
        new, why = RENAMED_SETTINGS[renamed[0]]
        raise ConfigError(f"{prefix}.{renamed[0]}: renamed to {new}: {why}. Fix: rename the key in cdk.json.")
    unknown = sorted(set(raw) - fields)
    if unknown:
        raise ConfigError(
            f"{prefix}.{unknown[0]}: unknown setting. Fix: remove it or use one of {', '.join(sorted(fields))}."
        )
    # The CDK CLI drops null context values, so an unset optional setting arrives missing.
    missing = sorted(fields - set(raw) - set(optional))
    if missing:
        raise ConfigError(f"{prefix}.{missing[0]}: missing. Fix: set it in cdk.json.")
    return {**optional, **raw}


def load_stages(
    stages: Mapping[str, Any],
    selection: str,
    *,
    default_account: str | None = None,
    model_package_arn: str | None = None,
) -> list[StageConfig]:
    """Validate the selected stages (``dev``, ``dev,prod`` or ``all``); ``model_package_arn`` serves in each."""
    if not isinstance(stages, Mapping):
        # `-c stages=prod` replaces cdk.json's whole stages object with a string: a typo of `-c stage=prod`.
        meant = stages if isinstance(stages, str) and stages in (*STAGE_NAMES, "all", "delivery") else "dev"
        raise ConfigError(
            f"stages: {stages!r} replaced cdk.json's stage settings (a -c stages=... on the command line?). "
            f"Fix: choose stages with -c stage={meant} (singular), and keep their settings in cdk.json."
        )
    names = selected_stages(selection)
    configs = []
    for name in names:
        if name in STAGE_NAMES and name not in stages:
            raise ConfigError(f"stages.{name}: not defined. Fix: add it under context.stages in cdk.json.")
        configs.append(
            StageConfig.from_mapping(
                name, stages.get(name, {}), account=default_account, model_package_arn=model_package_arn
            )
        )
    return configs


def selected_stages(selection: str) -> list[str]:
    return list(STAGE_NAMES) if selection == "all" else [s.strip() for s in selection.split(",")]


def fail_field(prefix: str, config: object, field: str, problem: str, fix: str) -> NoReturn:
    """Raise the one-line error every setting reports: ``<prefix>.<field>: <problem> (got X). Fix: <fix>``."""
    raise ConfigError(f"{prefix}.{field}: {problem} (got {getattr(config, field)!r}). Fix: {fix}")


def check_types(config: Any, prefix: str) -> None:
    """Each field of the dataclass ``config`` has its annotated JSON type (str, str | None, bool, int, float, list)."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        expected = field.type
        if expected == "str | None":
            ok = value is None or isinstance(value, str)
        elif expected == "bool":
            ok = isinstance(value, bool)
        elif expected == "int":
            # JSON true/false would otherwise pass as 1/0.
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif expected == "float":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif expected == "list":
            ok = isinstance(value, list)
        else:
            ok = isinstance(value, str)
        if not ok:
            fail_field(prefix, config, field.name, f"must be {expected}", f"write a {expected} in cdk.json.")


def _fail(config: StageConfig, field: str, problem: str, fix: str) -> NoReturn:
    fail_field(f"stages.{config.name}", config, field, problem, fix)


def _check_identity(c: StageConfig) -> None:
    if c.account is not None and not _ACCOUNT_RE.match(c.account):
        _fail(c, "account", "not a 12-digit AWS account id", 'quote all 12 digits, e.g. "012345678901", or use null.')
    if c.region not in supported_regions():
        _fail(
            c,
            "region",
            "no Hugging Face DLC is pinned for this region (stacks/dlc_images.json)",
            'use a region such as "us-east-1", or regenerate the table with `python -m stacks.images`.',
        )
    if not _PREFIX_RE.match(c.name_prefix):
        _fail(
            c,
            "name_prefix",
            "must be 2-20 lowercase letters, digits or '-', starting with a letter",
            'use something like "textclf".',
        )


def _check_instance_type(c: StageConfig, field: str, api_type: str, *, example: str) -> None:
    """The type must be one botocore's SageMaker model lists for the API that runs it (``api_type``)."""
    if getattr(c, field) not in instances.accepted(api_type):
        _fail(c, field, f"not a SageMaker {api_type} (botocore's SageMaker model)", f'use a type such as "{example}".')


def _check_training(c: StageConfig) -> None:
    _check_instance_type(c, "training_instance_type", instances.TRAINING, example="ml.g5.xlarge")
    # Evaluation runs on it, and so does the pipeline's batch transform job.
    _check_instance_type(c, "processing_instance_type", instances.PROCESSING, example="ml.m5.xlarge")
    _check_instance_type(c, "processing_instance_type", instances.TRANSFORM, example="ml.m5.xlarge")
    if not instances.has_gpu(c.training_instance_type):
        _fail(
            c,
            "training_instance_type",
            "has no GPU: the training image is the Hugging Face GPU DLC, and its jobs run under torch_distributed, "
            "which the SageMaker SDK allows on GPU and Trainium instances only "
            "(fw_utils.validate_torch_distributed_distribution)",
            'use a GPU type such as "ml.g5.xlarge".',
        )
    if c.training_instance_count < 1:
        # botocore's TrainingInstanceCount has a minimum of 0, but a job on no instance never starts.
        _fail(c, "training_instance_count", "must be at least 1", "use 1, or more to train on several instances.")
    _check_input_mode(c)
    _check_distribution(c)
    if not 1 <= c.max_runtime_seconds <= MAX_TRAINING_SECONDS:
        _fail(c, "max_runtime_seconds", f"must be within 1..{MAX_TRAINING_SECONDS}", "use e.g. 7200.")
    if c.use_spot and not c.max_runtime_seconds <= c.max_wait_seconds <= MAX_TRAINING_SECONDS:
        _fail(
            c,
            "max_wait_seconds",
            f"must be >= max_runtime_seconds ({c.max_runtime_seconds}) and <= {MAX_TRAINING_SECONDS} with spot",
            "raise max_wait_seconds to at least max_runtime_seconds, or set use_spot to false.",
        )


def _check_input_mode(c: StageConfig) -> None:
    modes = instances.training_input_modes()
    if c.training_input_mode not in modes:
        _fail(
            c,
            "training_input_mode",
            f"not a SageMaker TrainingInputMode (botocore's SageMaker model: {', '.join(modes)})",
            'use "File", or "FastFile" for data larger than the training volume.',
        )
    if c.training_input_mode == PIPE:
        _fail(
            c,
            "training_input_mode",
            "Pipe hands each channel to the job as a FIFO stream, read once per epoch (SageMaker Developer Guide, "
            '"Access Training Data"); train.py reads the train and validation files by offset',
            'use "FastFile", which streams from S3 on read as files, or "File".',
        )


def _check_distribution(c: StageConfig) -> None:
    if c.training_distribution not in TRAINING_DISTRIBUTIONS:
        _fail(
            c,
            "training_distribution",
            f"must be one of {', '.join(TRAINING_DISTRIBUTIONS)}",
            'use "torch_distributed" (torchrun across every GPU of every instance).',
        )
    if c.training_distribution == NO_DISTRIBUTION and c.training_instance_count > 1:
        _fail(
            c,
            "training_distribution",
            f'"{NO_DISTRIBUTION}" with training_instance_count {c.training_instance_count}: each instance would train '
            "alone on all the data, and SageMaker keeps only algo-1's model",
            'use "torch_distributed", or training_instance_count 1.',
        )


def _check_serving_mode(c: StageConfig) -> None:
    if c.serving_mode not in SERVING_MODES:
        _fail(c, "serving_mode", f"must be one of {', '.join(SERVING_MODES)}", 'use "serverless" or "realtime".')
    _check_instance_type(c, "realtime_instance_type", instances.HOSTING, example="ml.c6i.xlarge")
    if c.realtime_min_instances < 1:
        _fail(c, "realtime_min_instances", "must be at least 1", "use 1 or more (a realtime endpoint always runs one).")
    if c.realtime_max_instances < c.realtime_min_instances:
        _fail(
            c,
            "realtime_max_instances",
            f"must be at least realtime_min_instances ({c.realtime_min_instances})",
            "raise realtime_max_instances or lower realtime_min_instances.",
        )
    if c.realtime_invocations_per_instance < 1:
        _fail(
            c,
            "realtime_invocations_per_instance",
            "must be at least 1 (the scaling target, invocations per instance per minute)",
            "use e.g. 600, measured with `textclf bench serve` on the instance type.",
        )
    if not 0 <= c.data_capture_percent <= 100:
        _fail(c, "data_capture_percent", "must be a percentage within 0..100", "use e.g. 20, or 0 for no capture.")
    if c.data_capture_percent and c.serving_mode == "serverless":
        _fail(
            c,
            "data_capture_percent",
            "needs serving_mode realtime: serverless endpoints cannot capture data",
            'set serving_mode to "realtime", or data_capture_percent to 0.',
        )


def _check_serving(c: StageConfig) -> None:
    if c.serverless_memory_mb not in SERVERLESS_MEMORY_CHOICES_MB:
        _fail(
            c,
            "serverless_memory_mb",
            "must be one of 1024..6144 in steps of 1024",
            f"use one of {', '.join(map(str, SERVERLESS_MEMORY_CHOICES_MB))}.",
        )
    low, high = SERVERLESS_MAX_CONCURRENCY_RANGE
    if not low <= c.serverless_max_concurrency <= high:
        _fail(c, "serverless_max_concurrency", f"must be within {low}..{high}", "use e.g. 5.")
    if not 0 <= c.serverless_provisioned_concurrency <= c.serverless_max_concurrency:
        _fail(
            c,
            "serverless_provisioned_concurrency",
            f"must be within 0..serverless_max_concurrency ({c.serverless_max_concurrency})",
            "use 0 to disable provisioned concurrency.",
        )
    for field in ("alarm_latency_p99_ms", "alarm_5xx_errors"):
        if getattr(c, field) < 1:
            _fail(c, field, "must be at least 1", "use a positive alarm threshold.")
    if not 1 <= c.alarm_saturated_minutes <= SATURATION_WINDOW_MINUTES:
        _fail(
            c,
            "alarm_saturated_minutes",
            f"must be within 1..{SATURATION_WINDOW_MINUTES} (minutes of the last {SATURATION_WINDOW_MINUTES})",
            "use e.g. 5.",
        )
    arn = c.model_package_arn
    if arn is not None:
        match = _PACKAGE_ARN_RE.match(arn)
        if not match:
            _fail(
                c,
                "model_package_arn",
                "not a versioned SageMaker model package ARN",
                "use arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>, or null to skip serving.",
            )
        if match.group("region") != c.region:
            _fail(
                c,
                "model_package_arn",
                f"is in {match.group('region')}, but this stage deploys to {c.region}",
                "register or copy the model package in the stage's region.",
            )
        group, owner = arn.split(":")[5].split("/")[1], arn.split(":")[4]
        if group != c.model_package_group_name or (c.account is not None and owner != c.account):
            _fail(
                c,
                "model_package_arn",
                f"serves a package of this stage's own registry ({c.model_package_group_name}"
                f"{' in ' + c.account if c.account else ''}) in place; another stage's package would be read "
                "from that stage's bucket, which it may change or destroy",
                "release it instead: `python -m delivery_steps.release resolve --group <its group> "
                f"--region <region> --out release.json`, then `cdk synth -c stage={c.name} "
                "-c release=release.json` (each stage serves its own verified copy), or use the delivery pipeline.",
            )


def _check_update(c: StageConfig) -> None:
    """SageMaker's limits on a blue/green update (stacks/update_policy.py), and ours: a bake the rollback alarms
    can fire within."""
    if c.update_policy not in UPDATE_POLICIES:
        _fail(c, "update_policy", f"must be one of {', '.join(UPDATE_POLICIES)}", 'use e.g. "canary".')
    policy = c.update
    if not policy.guarded:
        return
    low, high = CANARY_PERCENT_RANGE if c.update_policy == "canary" else LINEAR_STEP_PERCENT_RANGE
    what = "a canary" if c.update_policy == "canary" else "a linear step"
    if not low <= c.update_traffic_percent <= high:
        _fail(
            c,
            "update_traffic_percent",
            f"{what} must be {low}..{high}% of the fleet's capacity (SageMaker's TrafficRoutingConfig)",
            f"use e.g. {25 if c.update_policy == 'canary' else 20}.",
        )
    for field in ("update_bake_minutes", "update_final_bake_minutes"):
        if not ROLLBACK_WINDOW_MINUTES <= getattr(c, field) <= MAX_WAIT_MINUTES:
            _fail(
                c,
                field,
                f"must be {ROLLBACK_WINDOW_MINUTES}..{MAX_WAIT_MINUTES} minutes: SageMaker waits at most an hour, "
                f"and the rollback alarms need {ROLLBACK_WINDOW_MINUTES} minutes of the new model's metrics to fire",
                f"use e.g. {ROLLBACK_WINDOW_MINUTES} or more.",
            )
    if policy.timeout_seconds > MAX_EXECUTION_SECONDS:
        _fail(
            c,
            "update_bake_minutes",
            f"the update would take {policy.planned_minutes} minutes of baking, past SageMaker's "
            f"{MAX_EXECUTION_SECONDS // 3600}-hour limit on one deployment",
            "bake less, or use larger linear steps.",
        )
    if c.serving_mode == "realtime":
        instances_ = c.realtime_min_instances
        shifted = instances_shifted(c.update_traffic_percent, instances_)
        if shifted * 2 > instances_:
            _fail(
                c,
                "realtime_min_instances",
                f"{what} of {c.update_traffic_percent}% shifts {shifted} of {instances_} instance(s), over half the "
                "fleet: SageMaker shifts whole instances and allows at most 50% per step",
                'run 2 or more instances, or use update_policy "all_at_once".',
            )


def _check_monitor(c: StageConfig) -> None:
    """CloudWatch's limits on what the drift alarms and their schedule evaluate, and shares' own bounds."""
    if not MONITOR_WINDOW_MINUTES[0] <= c.monitor_window_minutes <= MONITOR_WINDOW_MINUTES[1]:
        _fail(
            c,
            "monitor_window_minutes",
            f"must be {MONITOR_WINDOW_MINUTES[0]}..{MONITOR_WINDOW_MINUTES[1]} minutes: a drift alarm evaluates one "
            "window, and CloudWatch evaluates at most a day of data (PutMetricAlarm: Period x EvaluationPeriods)",
            "use e.g. 60.",
        )
    if not 1 <= c.monitor_min_requests <= 1_000_000:
        _fail(c, "monitor_min_requests", "must be within 1..1000000 texts", "use e.g. 200.")
    for field in ("drift_class_mix_max", "drift_length_max"):
        if not 0.0 < getattr(c, field) < 1.0:
            _fail(c, field, "must be within (0, 1): a Jensen-Shannon divergence in bits is at most 1", "use e.g. 0.05.")
    if not 0.0 < c.drift_confidence_drop_max < 1.0:
        _fail(c, "drift_confidence_drop_max", "must be within (0, 1): a drop of the mean top score", "use e.g. 0.05.")
    if c.retrain_on_quality_alarm and not (c.serving_mode == "realtime" and c.data_capture_percent > 0):
        _fail(
            c,
            "retrain_on_quality_alarm",
            "the quality alarms judge captured answers, and only a realtime endpoint that captures data has them",
            'set serving_mode "realtime" and data_capture_percent above 0, or set it to false.',
        )


def _check_retention(c: StageConfig) -> None:
    for field in (
        "checkpoint_retention_days",
        "noncurrent_version_retention_days",
        "access_log_retention_days",
        "data_capture_retention_days",
    ):
        if not 1 <= getattr(c, field) <= 3650:
            _fail(c, field, "must be within 1..3650 days", "use e.g. 30.")
    longest_job_days = max(c.max_runtime_seconds, c.max_wait_seconds if c.use_spot else 0) / 86400
    if c.checkpoint_retention_days <= longest_job_days:
        _fail(
            c,
            "checkpoint_retention_days",
            "checkpoints would expire while a job may still resume from them",
            f"keep them longer than the longest job ({longest_job_days:.1f} days).",
        )
    if c.name == "prod" and not c.retain_stateful_resources:
        _fail(
            c,
            "retain_stateful_resources",
            "prod data must outlive its stack",
            "set it to true for prod; only dev and staging may be destroyed.",
        )


def _check_pipeline(c: StageConfig) -> None:
    if not 0.0 <= c.min_accuracy <= 1.0:
        _fail(c, "min_accuracy", "must be a fraction within 0..1", "use e.g. 0.85 for 85%.")
    if not 0.0 <= c.regression_margin <= 1.0:
        _fail(c, "regression_margin", "must be a fraction within 0..1", "use e.g. 0.01 for one accuracy point.")
    for field in ("min_class_recall", "min_teacher_ratio"):
        if not 0.0 <= getattr(c, field) <= 1.0:
            _fail(
                c, field, "must be a fraction within 0..1", "use e.g. 0.7 for a recall floor, 0.97 for a teacher ratio."
            )
    for field, example in (("base_model", "distilbert-base-uncased"), ("teacher_base_model", "bert-base-uncased")):
        if not _MODEL_ID_RE.match(getattr(c, field)):
            _fail(
                c,
                field,
                "must be a folder name under base-models/ (letters, digits, '.', '_', '-')",
                f'use e.g. "{example}".',
            )
    if c.pipeline_schedule is not None and not _SCHEDULE_RE.match(c.pipeline_schedule):
        _fail(
            c,
            "pipeline_schedule",
            "not an EventBridge schedule expression",
            'use e.g. "rate(7 days)" or "cron(0 3 ? * MON *)", or null for no schedule.',
        )
    for account in c.registry_consumer_accounts:
        if not isinstance(account, str) or not _ACCOUNT_RE.match(account):
            _fail(
                c,
                "registry_consumer_accounts",
                f"{account!r} is not a 12-digit AWS account id",
                'list account ids as quoted strings, e.g. ["012345678901"].',
            )


_CHECKS = (
    _check_identity,
    _check_training,
    _check_serving_mode,
    _check_serving,
    _check_update,
    _check_monitor,
    _check_retention,
    _check_pipeline,
)
