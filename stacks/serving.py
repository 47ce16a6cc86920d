"""Serving: a serverless or realtime endpoint for one approved model, its log group, alarms and dashboard.

The model is either this stage's own model package (its ARN: image and model data fixed in the
registry) or a released package's container served from the stage's own verified copy of its model
data (``stacks/released_model.py``); either way synth makes no AWS calls. Model and endpoint-config names are derived
from a hash of what they contain: the same inputs give the same names and no replacement;
a new package or new serverless settings give new names, which CloudFormation needs to
replace these immutable resources while the endpoint switches over in place. The endpoint itself
is named after the stage, because SageMaker logs to a group named after the endpoint and the stack
creates that group first: with its retention, and with the metric filter behind the worker alarm.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from stacks.checkov import allow
from stacks.config import SATURATION_WINDOW_MINUTES
from stacks.instances import has_instance_store
from stacks.late_labels import LateLabelQuality
from stacks.monitor import DriftMonitor
from stacks.monitor_settings import DRIFT, MonitorBaseline, MonitorSettings, QualityFloors
from stacks.operations_key import OperationsKey
from stacks.quality_probe import MIN_AGREEMENT, QualityProbe
from stacks.realtime import EndpointScaling, RealtimeSettings, data_capture, production_variant
from stacks.storage import S3Location
from stacks.topics import encrypted_topic
from stacks.update_policy import ROLLBACK_WINDOW_MINUTES, UpdatePolicy
from training import contract

VARIANT = "AllTraffic"
WORKER_RESTARTS_METRIC = "ModelServerWorkerRestarts"
# A realtime endpoint is saturated well above its scaling target, not at it: scaling aims there.
SATURATION_FACTOR = 1.5
CONTAINER_ENVIRONMENT = {contract.MODEL_SERVER_VMARGS_ENV: contract.MODEL_SERVER_VMARGS}
# Serverless runs one request per container at a time: one model-server worker gets every vCPU. On instances the
# DLC's default applies, one worker per vCPU, and the handler divides the threads among them.
SERVERLESS_ENVIRONMENT = {"SAGEMAKER_MODEL_SERVER_WORKERS": "1"}


@dataclass(frozen=True, kw_only=True)
class ModelContainer:
    """What the model runs: a package of this stage's registry, or a released image with its own copy of the data."""

    identity: str  # what names the model: the package ARN (and the data's digest for a released copy)
    model_package_arn: str | None = None
    image: str | None = None
    model_data_url: str | None = None
    environment: tuple[tuple[str, str], ...] = ()

    @classmethod
    def package(cls, arn: str) -> ModelContainer:
        return cls(identity=arn, model_package_arn=arn)

    @classmethod
    def released(
        cls, *, package_arn: str, sha256: str, image: str, model_data_url: str, environment: dict[str, str]
    ) -> ModelContainer:
        return cls(
            identity=f"{package_arn}@{sha256}",
            image=image,
            model_data_url=model_data_url,
            environment=tuple(sorted(environment.items())),
        )

    def definition(self, environment: dict[str, str]) -> sagemaker.CfnModel.ContainerDefinitionProperty:
        if self.model_package_arn is not None:
            return sagemaker.CfnModel.ContainerDefinitionProperty(
                model_package_name=self.model_package_arn, environment=environment
            )
        return sagemaker.CfnModel.ContainerDefinitionProperty(
            image=self.image, model_data_url=self.model_data_url, environment={**dict(self.environment), **environment}
        )


@dataclass(frozen=True, kw_only=True)
class EndpointSettings:
    memory_mb: int
    max_concurrency: int
    provisioned_concurrency: int
    latency_p99_ms: int
    errors_5xx: int
    saturated_minutes: int
    int8: bool = False
    realtime: RealtimeSettings | None = None  # None: serverless
    update: UpdatePolicy | None = None  # None: SageMaker's default, all at once without rollback alarms
    # The served release's probe set, (label, text) pairs; none: no quality probe and no probe alarm.
    probes: tuple[tuple[str, str], ...] = ()
    # Signal metrics are always counted; drift is measured and alarmed on where the served package has a baseline.
    monitor: MonitorSettings
    baseline: MonitorBaseline | None = None
    # Answers judged against late labels must stay above these (a capturing realtime endpoint only).
    quality_floors: QualityFloors | None = None


class Serving(Construct):
    """Model, endpoint config (serverless, or realtime with scaling), endpoint and its log group, alarms to an
    encrypted SNS topic, dashboard.

    ``retain``: the log group outlives the stack, as the stage's other stateful resources do. ``data_capture``:
    where a realtime endpoint capturing data writes it (the execution role must be granted writing there);
    ``volume_key`` encrypts a realtime instance's storage volume where the instance type has one.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        container: ModelContainer,
        execution_role: iam.IRole,
        name_prefix: str,
        settings: EndpointSettings,
        operations_key: OperationsKey,
        retain: bool,
        data_capture: S3Location | None = None,
        feedback: S3Location | None = None,
        volume_key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings
        # The stage's own serving metrics (worker restarts, a log metric filter). Each function that publishes does
        # so in a namespace of its own (publisher_namespace), the only one its role may write: none can forge
        # another's metric, so a broken or compromised probe cannot force rollbacks through drift, or a retrain.
        self.namespace = f"{name_prefix}/Serving"
        environment = {
            **CONTAINER_ENVIRONMENT,
            **(SERVERLESS_ENVIRONMENT if settings.realtime is None else {}),
            **({contract.QUANTIZE_ENV: "int8"} if settings.int8 else {}),
        }
        # On instances the container runs without network access: the handler makes no outbound calls, and
        # SageMaker itself fetches the model data and writes captured data.
        isolated = settings.realtime is not None
        # Serverless names stay what they were before realtime existed: no replacement on upgrade.
        model_digest = digest(container.identity, environment, *(["isolated"] if isolated else []))
        self.model = sagemaker.CfnModel(
            self,
            "Model",
            model_name=f"{name_prefix}-{model_digest}",
            execution_role_arn=execution_role.role_arn,
            primary_container=container.definition(environment),
            enable_network_isolation=isolated or None,
        )
        if not isolated:
            allow(
                self.model,
                "CKV_AWS_370",
                "Serverless Inference does not support network isolation. The model role may read only this "
                "model's data and pull its image, and the handler makes no outbound calls.",
            )
        # The endpoint's container pulls the image and the model data as this role as soon as it is created:
        # the model must wait for the role's policy, not only for the role (its ARN).
        self.model.node.add_dependency(execution_role)
        self.endpoint_config = self._endpoint_config(name_prefix, model_digest, data_capture, volume_key)
        self.log_group = self._log_group(name_prefix, execution_role, retain, operations_key.key)
        self.endpoint_name = name_prefix
        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=name_prefix,
            endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
        )
        # The container's first lines must find the group (and the role its grant) already there.
        self.endpoint.node.add_dependency(self.log_group)
        self.worker_restarts = self.log_group.add_metric_filter(
            "WorkerRestarts",
            filter_pattern=logs.FilterPattern.literal(f'"{contract.WORKER_RESTART_LOG}"'),
            metric_namespace=self.namespace,
            metric_name=WORKER_RESTARTS_METRIC,
            default_value=0,
        )
        self.scaling = (
            EndpointScaling(self, "Scaling", endpoint_name=name_prefix, variant=VARIANT, settings=settings.realtime)
            if settings.realtime
            else None
        )
        if self.scaling is not None:
            self.scaling.target.add_dependency(self.endpoint)
        self.alarm_topic = encrypted_topic(self, "AlarmTopic", key=operations_key, publisher="cloudwatch.amazonaws.com")
        self.probe = (
            QualityProbe(
                self,
                "QualityProbe",
                endpoint_name=name_prefix,
                endpoint_arn=self.endpoint.ref,
                probes=settings.probes,
                namespace=self.publisher_namespace("QualityProbe"),
                log_key=operations_key.key,
                failures=self.alarm_topic,
            )
            if settings.probes
            else None
        )
        self.monitor = DriftMonitor(
            self,
            "Monitor",
            log_group=self.log_group,
            namespace=self.publisher_namespace("DriftMonitor"),
            settings=settings.monitor,
            baseline=settings.baseline,
            log_key=operations_key.key,
            failures=self.alarm_topic,
        )
        self.rollback_alarms = self._rollback_alarms(settings)
        self.late_labels = (
            LateLabelQuality(
                self,
                "LateLabels",
                endpoint_name=name_prefix,
                capture=data_capture,
                feedback=feedback,
                namespace=self.publisher_namespace("LateLabels"),
                min_labelled=settings.monitor.min_requests,
                log_key=operations_key.key,
                failures=self.alarm_topic,
            )
            if data_capture is not None and feedback is not None
            else None
        )
        # Not rollback alarms: a window of traffic or a day of labels is longer than any bake, and what users send
        # is no fault of an update.
        self.drift_alarms = self._drift_alarms()
        self.quality_alarms = self._quality_alarms()
        self.alarms = [
            *self.rollback_alarms,
            self._saturation_alarm(settings),
            *self.drift_alarms,
            *self.quality_alarms,
        ]
        if settings.update is not None and settings.update.guarded:
            self.endpoint.deployment_config = self._deployment_config(settings.update)
        self.dashboard = self._dashboard()

    def _endpoint_config(
        self, name_prefix: str, model_digest: str, capture: S3Location | None, volume_key: kms.IKey | None
    ) -> sagemaker.CfnEndpointConfig:
        realtime = self.settings.realtime
        if realtime is None:
            variant = sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                variant_name=VARIANT,
                model_name=self.model.attr_model_name,
                serverless_config=sagemaker.CfnEndpointConfig.ServerlessConfigProperty(
                    memory_size_in_mb=self.settings.memory_mb,
                    max_concurrency=self.settings.max_concurrency,
                    provisioned_concurrency=self.settings.provisioned_concurrency or None,
                ),
            )
            extra = {}
        else:
            capture_config = None
            if realtime.data_capture_percent:
                if capture is None:
                    raise ValueError("Serving: data_capture_percent needs a data_capture location")
                capture_config = data_capture(realtime, capture)
            variant = production_variant(VARIANT, self.model.attr_model_name, realtime)
            extra = {
                "data_capture_config": capture_config,
                "kms_key_id": volume_key.key_arn
                if volume_key and not has_instance_store(realtime.instance_type)
                else None,
            }
        return sagemaker.CfnEndpointConfig(
            self,
            "EndpointConfig",
            endpoint_config_name=f"{name_prefix}-{digest(model_digest, *_capacity(self.settings))}",
            production_variants=[variant],
            **extra,
        )

    def _log_group(self, endpoint_name: str, writer: iam.IRole, retain: bool, key: kms.IKey) -> logs.LogGroup:
        log_group = logs.LogGroup(
            self,
            "EndpointLogs",
            log_group_name=contract.endpoint_log_group(endpoint_name),
            retention=logs.RetentionDays.ONE_YEAR,
            encryption_key=key,
            # Named by SageMaker's convention, so a retained group blocks a redeployment of the same stage:
            # kept only where the stage keeps its other stateful resources, as the model package group is.
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
        )
        # What SageMaker does with the model's role when the container starts: ensure the group, add a stream.
        log_group.grant(
            writer, "logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"
        )
        return log_group

    @property
    def invocation_url(self) -> str:
        return (
            f"https://runtime.sagemaker.{Stack.of(self).region}.{Aws.URL_SUFFIX}"
            f"/endpoints/{self.endpoint.attr_endpoint_name}/invocations"
        )

    def grant_invoke(self, grantee: iam.IGrantable) -> None:
        # Ref of AWS::SageMaker::Endpoint is its ARN: exactly this endpoint, no wildcard.
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["sagemaker:InvokeEndpoint"], resources=[self.endpoint.ref])
        )

    def grant_read_update_outcome(self, grantee: iam.IGrantable) -> None:
        """What the smoke test reads to tell a rolled-back update: the endpoint, and its rollback alarms' history."""
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["sagemaker:DescribeEndpoint"], resources=[self.endpoint.ref])
        )
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:DescribeAlarmHistory"], resources=[a.alarm_arn for a in self.rollback_alarms]
            )
        )

    def publisher_namespace(self, publisher: str) -> str:
        """The metrics namespace of one function of this endpoint's, and of nothing else."""
        return f"{self.namespace}/{publisher}"

    def metric(
        self, name: str, statistic: str, period: Duration | None = None, *, namespace: str = "AWS/SageMaker"
    ) -> cloudwatch.Metric:
        """An endpoint metric; instance metrics (CPU, memory of a realtime endpoint) have their own namespace."""
        return cloudwatch.Metric(
            namespace=namespace,
            metric_name=name,
            # By name, not the endpoint's attribute: the endpoint names these alarms for its rollback.
            dimensions_map={"EndpointName": self.endpoint_name, "VariantName": VARIANT},
            statistic=statistic,
            period=period or Duration.minutes(1),
        )

    def _rollback_alarms(self, settings: EndpointSettings) -> list[cloudwatch.Alarm]:
        """The alarms that mean "the new model is worse", which roll a guarded update back. Each fires within
        ROLLBACK_WINDOW_MINUTES, so within any bake the config allows."""
        five_minutes = Duration.minutes(5)
        alarms = [
            self._alarm(
                "ServerErrorsAlarm",
                "The model returned 5XX errors",
                self.metric("Invocation5XXErrors", "Sum", five_minutes),
                threshold=settings.errors_5xx,
                periods=1,
            ),
            # The model server answers /ping with 200 even when no worker is alive, so SageMaker keeps
            # routing requests to it; the restarts it logs are the signal.
            self._alarm(
                "WorkerRestartsAlarm",
                "A model-server worker died: requests wait or fail while it restarts, and /ping still says healthy",
                self.worker_restarts.metric(statistic="Sum", period=five_minutes),
                threshold=1,
                periods=1,
            ),
            # ModelLatency is published in microseconds. Three slow minutes of five.
            self._alarm(
                "LatencyP99Alarm",
                f"p99 model latency above {settings.latency_p99_ms} ms",
                self.metric("ModelLatency", "p99"),
                threshold=settings.latency_p99_ms * 1000,
                periods=5,
                datapoints=3,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            ),
        ]
        if self.probe is not None:
            alarms.append(
                self._alarm(
                    "ProbeAgreementAlarm",
                    f"Fewer than {MIN_AGREEMENT:.0%} of the probe set's answers agree with the evaluation's: "
                    "the served model answers wrongly",
                    self.probe.metric(),
                    threshold=MIN_AGREEMENT,
                    periods=5,
                    datapoints=2,
                    comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                    # The probe publishes every minute: a minute without its answer is a broken watcher, and an
                    # update must not complete unwatched (issue 45, finding 4).
                    missing=cloudwatch.TreatMissingData.BREACHING,
                )
            )
        for alarm in alarms:
            window = rollback_window_minutes(alarm)
            if window > ROLLBACK_WINDOW_MINUTES:
                raise ValueError(f"{alarm.node.id} needs {window} minutes to fire, past ROLLBACK_WINDOW_MINUTES")
        return alarms

    def _drift_alarms(self) -> list[cloudwatch.Alarm]:
        if self.monitor.function is None:
            return []
        return [
            self._alarm(
                f"{DRIFT[key]}Alarm",
                f"{description} (above {threshold} over a {self.settings.monitor.window_minutes}-minute window)",
                self.monitor.drift_metric(key),
                threshold=threshold,
                periods=1,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            )
            for key, (threshold, description) in self.monitor.thresholds().items()
        ]

    def _quality_alarms(self) -> list[cloudwatch.Alarm]:
        floors = self.settings.quality_floors
        if self.late_labels is None or floors is None:
            return []
        return [
            self._alarm(
                construct_id,
                f"{what} of the answers users labelled later is under the gate's floor ({floor})",
                self.late_labels.metric(key),
                threshold=floor,
                periods=1,
                comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            )
            for construct_id, what, key, floor in (
                ("LabelledAccuracyAlarm", "The accuracy", "accuracy", floors.accuracy),
                ("LabelledClassRecallAlarm", "The lowest per-class recall", "min_class_recall", floors.class_recall),
            )
        ]

    def _deployment_config(self, policy: UpdatePolicy) -> sagemaker.CfnEndpoint.DeploymentConfigProperty:
        percent = sagemaker.CfnEndpoint.CapacitySizeProperty
        routing = sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
            type=policy.kind.upper(),
            wait_interval_in_seconds=policy.bake_minutes * 60,
            canary_size=percent(type="CAPACITY_PERCENT", value=policy.traffic_percent)
            if policy.kind == "canary"
            else None,
            linear_step_size=percent(type="CAPACITY_PERCENT", value=policy.traffic_percent)
            if policy.kind == "linear"
            else None,
        )
        return sagemaker.CfnEndpoint.DeploymentConfigProperty(
            blue_green_update_policy=sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty(
                traffic_routing_configuration=routing,
                termination_wait_in_seconds=policy.final_bake_minutes * 60,
                maximum_execution_timeout_in_seconds=policy.timeout_seconds,
            ),
            auto_rollback_configuration=sagemaker.CfnEndpoint.AutoRollbackConfigProperty(
                alarms=[
                    sagemaker.CfnEndpoint.AlarmProperty(alarm_name=alarm.alarm_name) for alarm in self.rollback_alarms
                ]
            ),
        )

    def _saturation_alarm(self, settings: EndpointSettings) -> cloudwatch.Alarm:
        """Minutes out of the last fifteen in which the endpoint could take no more."""
        if settings.realtime is None:
            # Serverless endpoints publish no throttle count; at utilization 1.0 every further concurrent
            # request is throttled.
            return self._alarm(
                "ThrottlingAlarm",
                "The endpoint ran at its max concurrency, so further requests were throttled",
                self.metric("ServerlessConcurrentExecutionsUtilization", "Maximum"),
                threshold=1,
                periods=SATURATION_WINDOW_MINUTES,
                datapoints=settings.saturated_minutes,
            )
        # Scaling keeps invocations per instance near the target; well above it, scaling is at its maximum
        # or too slow, and latency grows.
        target = settings.realtime.invocations_per_instance
        return self._alarm(
            "SaturationAlarm",
            f"Invocations per instance above {SATURATION_FACTOR} x the scaling target ({target}/min): "
            "at max instances, or scaling out too slowly",
            self.metric("InvocationsPerInstance", "Sum"),
            threshold=target * SATURATION_FACTOR,
            periods=SATURATION_WINDOW_MINUTES,
            datapoints=settings.saturated_minutes,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )

    def _alarm(
        self,
        construct_id: str,
        description: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        periods: int,
        datapoints: int | None = None,
        comparison: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
    ) -> cloudwatch.Alarm:
        """An alarm that notifies the alarm topic when it fires and when it clears; no data is not a breach unless
        ``missing`` says so."""
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            evaluation_periods=periods,
            datapoints_to_alarm=datapoints,
            comparison_operator=comparison,
            treat_missing_data=missing,
        )
        alarm.add_alarm_action(actions.SnsAction(self.alarm_topic))
        alarm.add_ok_action(actions.SnsAction(self.alarm_topic))
        return alarm

    def _dashboard(self) -> cloudwatch.Dashboard:
        dashboard = cloudwatch.Dashboard(self, "Dashboard")
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Invocations", left=[self.metric("Invocations", "Sum")]),
            cloudwatch.GraphWidget(
                title="Errors",
                left=[self.metric("Invocation4XXErrors", "Sum"), self.metric("Invocation5XXErrors", "Sum")],
            ),
            cloudwatch.GraphWidget(
                title="Model latency (microseconds)",
                left=[self.metric("ModelLatency", "p50"), self.metric("ModelLatency", "p99")],
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Cold starts: model setup and overhead (microseconds)",
                left=[self.metric("ModelSetupTime", "Maximum"), self.metric("OverheadLatency", "p99")],
            ),
            *self._capacity_widgets(),
            cloudwatch.AlarmStatusWidget(alarms=self.alarms, title="Alarms"),
        )
        if self.drift_alarms:
            dashboard.add_widgets(
                cloudwatch.GraphWidget(
                    title="Drift from the served model's test set",
                    left=[self.monitor.drift_metric(key) for key in DRIFT],
                )
            )
        return dashboard

    def _capacity_widgets(self) -> list[cloudwatch.IWidget]:
        realtime = self.settings.realtime
        if realtime is None:
            return [
                cloudwatch.GraphWidget(
                    title="Concurrency utilization",
                    left=[self.metric("ServerlessConcurrentExecutionsUtilization", "Maximum")],
                ),
                cloudwatch.GraphWidget(
                    title="Memory utilization (%)", left=[self.metric("MemoryUtilization", "Maximum")]
                ),
            ]
        instances = "/aws/sagemaker/Endpoints"
        return [
            cloudwatch.GraphWidget(
                title=f"Invocations per instance (scaling target {realtime.invocations_per_instance}/min)",
                left=[self.metric("InvocationsPerInstance", "Sum")],
                left_annotations=[
                    cloudwatch.HorizontalAnnotation(value=realtime.invocations_per_instance, label="target")
                ],
            ),
            cloudwatch.GraphWidget(
                title="CPU and memory utilization (%; CPU is summed over vCPUs)",
                left=[
                    self.metric("CPUUtilization", "Maximum", namespace=instances),
                    self.metric("MemoryUtilization", "Maximum", namespace=instances),
                ],
            ),
        ]


def rollback_window_minutes(alarm: cloudwatch.Alarm) -> int:
    """Minutes of metrics ``alarm`` evaluates: its period times its evaluation periods."""
    cfn = alarm.node.default_child
    assert isinstance(cfn, cloudwatch.CfnAlarm)
    return int(cfn.period or 0) * int(cfn.evaluation_periods) // 60


def digest(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _capacity(settings: EndpointSettings) -> tuple:
    """What a new endpoint configuration is needed for, besides the model. Scaling limits are not: they change
    the scalable target in place."""
    realtime = settings.realtime
    if realtime is None:
        return settings.memory_mb, settings.max_concurrency, settings.provisioned_concurrency
    return "realtime", realtime.instance_type, realtime.min_instances, realtime.data_capture_percent
