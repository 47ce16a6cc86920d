"""Typed, frozen settings of the delivery pipeline (``cdk.json`` → ``context.delivery``), validated once.

Errors read ``delivery.<field>: <problem> (got X). Fix: <what to do>``, like the stage settings.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stacks.config import (
    _ACCOUNT_RE,
    _PACKAGE_ARN_RE,
    MODEL_DATA_PREFIX,
    STAGE_NAMES,
    ConfigError,
    StageConfig,
    artifact_bucket_name,
    check_types,
    fail_field,
    settings,
)
from stacks.images import images_for
from stacks.monitor_settings import MonitorBaseline
from training import contract

_CONNECTION_RE = re.compile(
    r"^arn:aws[a-z-]*:(codestar-connections|codeconnections):[a-z0-9-]+:\d{12}:connection/[0-9a-f-]{36}$"
)
_REPOSITORY_RE = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$")
_OBJECT_KEY_RE = re.compile(r"^[A-Za-z0-9!_.*'()/-]+\.zip$")
_S3_URL_RE = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
# Settings that may be null in cdk.json, which the CDK CLI then drops from the context.
OPTIONAL_SETTINGS = {"account": None, "connection_arn": None, "repository": None}


# The Makefile targets that split `make test` between the pipeline's Synth step (what neither trains, runs a job
# nor serves a model) and its Rehearse action (the rest, before the first stage deploys).
# The pipeline's stack (app.py), whose generated resource names start with it.
DELIVERY_STACK_ID = "Delivery"
FAST_CHECKS = "check"
WORKLOAD_CHECKS = "test-workloads"


@dataclass(frozen=True, kw_only=True)
class DeliveryConfig:
    """Where the pipeline runs, where its source comes from, whose approvals release, and the smoke-test bar."""

    account: str | None
    region: str
    connection_arn: str | None
    repository: str | None
    branch: str
    source_object_key: str
    model_source_stage: str
    smoke_cases: str
    smoke_latency_p95_ms: int
    smoke_min_accuracy: float

    def __post_init__(self) -> None:
        _check(self)

    @property
    def uses_connection(self) -> bool:
        return self.connection_arn is not None

    @classmethod
    def from_mapping(cls, raw: Any, *, account: str | None = None) -> DeliveryConfig:
        if not isinstance(raw, Mapping):
            raise ConfigError("delivery: not defined. Fix: add a context.delivery object to cdk.json (see README).")
        values = settings("delivery", raw, {f.name for f in dataclasses.fields(cls)}, OPTIONAL_SETTINGS)
        if values["account"] is None:
            values["account"] = account
        return cls(**values)


def released_environment(region: str) -> dict[str, frozenset[str]]:
    """The container environment a release may carry, name -> accepted values: what the training pipeline registers
    (stacks.pipeline_definition.serving_environment) and nothing else. Whoever may register a package in the
    source stage writes this environment, and the inference toolkit obeys more than this project sets: with
    HF_MODEL_ID and HF_TRUST_REMOTE_CODE it loads model and code from the Hugging Face Hub at every cold start."""
    return {
        contract.PROGRAM_ENV: frozenset({contract.SERVING_PROGRAM}),
        contract.REGION_ENV: frozenset({region}),
        contract.INT8_VERIFIED_ENV: frozenset({"true", "false"}),
    }


@dataclass(frozen=True, kw_only=True)
class Release:
    """What the ResolveRelease step found: the newest approved package and what a stage needs to serve it.

    Every stage serves its *own verified copy* of ``model_data_url`` (``stacks/released_model.py``), so
    the image, environment and SHA-256 travel with the ARN: synth stays offline.
    """

    model_package_arn: str | None
    model_data_url: str | None = None
    model_data_sha256: str | None = None
    image: str | None = None
    environment: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # The package's probe set, (label, text) pairs: stacks/quality_probe.py sends them to the served endpoint.
    probes: tuple[tuple[str, str], ...] = ()
    # What the package's evaluation measured, which the stage's drift monitor compares with; None: no drift alarms.
    monitor_baseline: MonitorBaseline | None = None

    @classmethod
    def read(cls, path: str | Path) -> Release:
        try:
            raw = json.loads(Path(path).read_text())
        except (OSError, ValueError) as error:
            raise ConfigError(
                f"release: cannot read {path}: {error}. Fix: pass the file the ResolveRelease "
                "step wrote, e.g. -c release=release/release.json."
            ) from error
        if not isinstance(raw, dict):
            raise ConfigError(
                f"release: {path} is not a JSON object. "
                "Fix: regenerate it with `python -m delivery_steps.release resolve`."
            )
        arn = raw.get("model_package_arn")
        if arn is None:
            return cls(model_package_arn=None)
        release = cls(
            model_package_arn=arn,
            model_data_url=raw.get("model_data_url"),
            model_data_sha256=raw.get("model_data_sha256"),
            image=raw.get("image"),
            environment=raw.get("environment") or {},
            probes=_probes(raw.get("probes") or []),
            monitor_baseline=_monitor_baseline(raw.get("monitor_baseline")),
        )
        release.check()
        return release

    def check(self) -> None:
        regenerate = "Fix: regenerate it with `python -m delivery_steps.release resolve`."
        if not (isinstance(self.model_package_arn, str) and _PACKAGE_ARN_RE.match(self.model_package_arn)):
            raise ConfigError(
                f"release.model_package_arn: not a versioned model package ARN "
                f"(got {self.model_package_arn!r}). {regenerate}"
            )
        if not (isinstance(self.model_data_url, str) and _S3_URL_RE.match(self.model_data_url)):
            raise ConfigError(
                f"release.model_data_url: not an s3://bucket/key URL (got {self.model_data_url!r}). {regenerate}"
            )
        if not (isinstance(self.model_data_sha256, str) and _SHA256_RE.match(self.model_data_sha256)):
            raise ConfigError(
                f"release.model_data_sha256: not a SHA-256 hex digest (got {self.model_data_sha256!r}). "
                "Fix: serve a package the current pipeline registered (it records the digest at "
                "evaluation), then regenerate the release."
            )
        if not isinstance(self.image, str) or not self.image:
            raise ConfigError(f"release.image: missing (got {self.image!r}). {regenerate}")
        if not isinstance(self.environment, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.environment.items()
        ):
            raise ConfigError(
                f"release.environment: must map names to strings (got {self.environment!r}). {regenerate}"
            )
        for label, text in self.probes:
            if len(contract.encode_probe(label, text)) > contract.PROBE_VALUE_CHARACTERS:
                raise ConfigError(
                    f"release.probes: {text[:40]!r}... is longer than a package's metadata holds. {regenerate}"
                )

    @property
    def owner_account(self) -> str:
        assert self.model_package_arn is not None
        return self.model_package_arn.split(":")[4]

    @property
    def region(self) -> str:
        assert self.model_package_arn is not None
        return self.model_package_arn.split(":")[3]

    def source_bucket(self, name_prefix: str) -> str:
        """The artifact bucket of the stage whose registry holds the package (its group is ``<prefix>-<stage>``):
        the only bucket a release's model data may come from."""
        assert self.model_package_arn is not None
        group = self.model_package_arn.split(":")[5].split("/")[1]
        stage = group.removeprefix(f"{name_prefix}-")
        if stage not in STAGE_NAMES or group != f"{name_prefix}-{stage}":
            raise ConfigError(
                f"release.model_package_arn: its group {group!r} is not a registry of this project "
                f"({', '.join(f'{name_prefix}-{s}' for s in STAGE_NAMES)}). Fix: release a package of "
                "delivery.model_source_stage's group."
            )
        return artifact_bucket_name(name_prefix, stage, self.owner_account, self.region)

    def check_served_by(self, config: StageConfig) -> None:
        """What a stage takes from a release, all of which the source stage's registry decides, is what the training
        pipeline registers: the pinned inference image, the registered environment, and model data from the source
        stage's training outputs. Anything else fails synth, naming the value."""
        if self.model_package_arn is None:
            return
        fix = (
            "Fix: reject this package in the registry (the release then serves the one approved before it) and "
            "register models with the training pipeline only."
        )
        if self.region != config.region:
            raise ConfigError(
                f"release.model_package_arn: registered in {self.region}, but stages.{config.name} deploys to "
                f"{config.region}; SageMaker serves model data from its own region only. {fix}"
            )
        pinned = images_for(config.region).inference
        if self.image != pinned:
            raise ConfigError(
                f"release.image: not the inference image pinned for {config.region} (got {self.image!r}, pinned "
                f"{pinned!r} in stacks/dlc_images.json). {fix}"
            )
        allowed = released_environment(config.region)
        for name, value in sorted(self.environment.items()):
            if name not in allowed:
                raise ConfigError(
                    f"release.environment.{name}: not a variable the training pipeline registers, so no stage "
                    f"serves it (allowed: {', '.join(sorted(allowed))}). {fix}"
                )
            if value not in allowed[name]:
                raise ConfigError(f"release.environment.{name}: {value!r} is not one of {sorted(allowed[name])}. {fix}")
        bucket = self.source_bucket(config.name_prefix)
        assert self.model_data_url is not None
        if not self.model_data_url.startswith(f"s3://{bucket}/{MODEL_DATA_PREFIX}"):
            raise ConfigError(
                f"release.model_data_url: not a training output of the source stage (got {self.model_data_url!r}, "
                f"expected s3://{bucket}/{MODEL_DATA_PREFIX}...). {fix}"
            )


def check_against_stages(delivery: DeliveryConfig, stages: Sequence[StageConfig]) -> None:
    """Rules that need both: accounts must be explicit across accounts, and one package serves every stage."""
    names = [stage.name for stage in stages]
    if names != list(STAGE_NAMES):
        raise ConfigError(
            f"stage: the delivery pipeline promotes {', '.join(STAGE_NAMES)} (got {names}). "
            "Fix: define all three under context.stages."
        )
    for stage in stages:
        if stage.account is not None and delivery.account is None:
            _fail(
                delivery,
                "account",
                f"must be set when stages.{stage.name}.account is ({stage.account})",
                "set the tooling account that runs the pipeline, so cross-account trust can name it.",
            )
    source = next(stage for stage in stages if stage.name == delivery.model_source_stage)
    _check_registry_sharing(delivery, source, stages)
    for stage in stages:
        # A model package can only be served in its own region.
        if stage.region != source.region:
            raise ConfigError(
                f"stages.{stage.name}.region: the release comes from stages.{source.name}'s registry in "
                f"{source.region} (got {stage.region!r}). Fix: deploy every stage to {source.region}, or "
                "register the model in each region and run one pipeline per region."
            )


def _check_registry_sharing(delivery: DeliveryConfig, source: StageConfig, stages: Sequence[StageConfig]) -> None:
    """Accounts other than the registry's must be its consumers: the pipeline reads it, stages serve from it."""
    owner = source.account or delivery.account
    readers = {delivery.account: "the delivery pipeline resolves releases from it"}
    readers.update({stage.account: f"stages.{stage.name} serves its packages" for stage in stages})
    for account, why in readers.items():
        if (
            account is not None
            and owner is not None
            and account != owner
            and account not in source.registry_consumer_accounts
        ):
            raise ConfigError(
                f"stages.{source.name}.registry_consumer_accounts: must include {account}, because {why} "
                f'(got {source.registry_consumer_accounts!r}). Fix: add "{account}" to the list.'
            )


def _fail(config: DeliveryConfig, field: str, problem: str, fix: str) -> None:
    fail_field("delivery", config, field, problem, fix)


def _check(c: DeliveryConfig) -> None:
    check_types(c, "delivery")
    if c.account is not None and not _ACCOUNT_RE.match(c.account):
        _fail(c, "account", "not a 12-digit AWS account id", 'quote all 12 digits, e.g. "012345678901", or use null.')
    if c.connection_arn is not None:
        if not _CONNECTION_RE.match(c.connection_arn):
            _fail(
                c,
                "connection_arn",
                "not a CodeStar (CodeConnections) connection ARN",
                "copy it from Developer Tools > Connections, or use null for the S3 source.",
            )
        if c.repository is None or not _REPOSITORY_RE.match(c.repository):
            _fail(c, "repository", "must be owner/name when connection_arn is set", 'use e.g. "my-org/textclf".')
    if not c.branch.strip():
        _fail(c, "branch", "must name a branch", 'use e.g. "main".')
    if not _OBJECT_KEY_RE.match(c.source_object_key):
        _fail(c, "source_object_key", "must be an S3 key ending in .zip", 'use e.g. "source/textclf.zip".')
    if c.model_source_stage not in STAGE_NAMES:
        _fail(c, "model_source_stage", "not a stage", f"use one of {', '.join(STAGE_NAMES)}.")
    if not c.smoke_cases.endswith(".jsonl"):
        _fail(c, "smoke_cases", "must be a .jsonl file in the repository", 'use e.g. "data/smoke_cases.jsonl".')
    if not 1 <= c.smoke_latency_p95_ms <= 60_000:
        _fail(c, "smoke_latency_p95_ms", "must be within 1..60000", "use e.g. 3000.")
    if not 0.0 < c.smoke_min_accuracy <= 1.0:
        _fail(c, "smoke_min_accuracy", "must be a fraction within (0, 1]", "use 1.0 to require every case.")


def _probes(raw: Any) -> tuple[tuple[str, str], ...]:
    fix = "Fix: regenerate it with `python -m delivery_steps.release resolve`."
    if not isinstance(raw, list) or len(raw) > contract.PROBE_COUNT:
        raise ConfigError(f"release.probes: must list at most {contract.PROBE_COUNT} [label, text] pairs. {fix}")
    pairs = []
    for item in raw:
        if not (
            isinstance(item, list) and len(item) == 2 and all(isinstance(part, str) and part.strip() for part in item)
        ):
            raise ConfigError(f"release.probes: {item!r} is not a [label, text] pair of non-empty strings. {fix}")
        pairs.append((item[0], item[1]))
    return tuple(pairs)


def _monitor_baseline(raw: Any) -> MonitorBaseline | None:
    fix = "Fix: regenerate it with `python -m delivery_steps.release resolve`."
    if raw is None:
        return None
    try:
        baseline = MonitorBaseline(
            class_mix=tuple(contract.checked_shares([float(share) for share in raw["class_mix"]])),
            length=tuple(contract.checked_shares([float(share) for share in raw["length"]])),
            mean_score=float(raw["mean_score"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ConfigError(
            f"release.monitor_baseline: {error!s} is not a baseline of class_mix, length and mean_score. {fix}"
        ) from error
    if len(baseline.length) != contract.LENGTH_BUCKETS or not 0.0 <= baseline.mean_score <= 1.0:
        raise ConfigError(
            f"release.monitor_baseline: expected {contract.LENGTH_BUCKETS} length shares and a mean_score within 0..1 "
            f"(got {len(baseline.length)} and {baseline.mean_score}). {fix}"
        )
    return baseline
