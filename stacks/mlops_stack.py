"""The per-environment stack: composes the constructs, wires grants, outputs."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Annotations, Aspects, Aws, CfnOutput, Duration, RemovalPolicy, Stack, Tags
from constructs import Construct

from stacks.baseline import RegressionBaseline
from stacks.batch import BatchScoring
from stacks.boundary import PROJECT_TAG
from stacks.config import STAGE_TAG, TORCH_DISTRIBUTED, StageConfig, artifact_bucket_name
from stacks.delivery.config import Release
from stacks.images import images_for
from stacks.monitor_settings import QualityFloors
from stacks.nag import AcknowledgeUnscopedActions
from stacks.operations_key import OperationsKey
from stacks.pipeline_alerts import PipelineAlerts
from stacks.pipeline_definition import PipelineInputs, definition, distillation_definition
from stacks.realtime import RealtimeSettings
from stacks.registry import ModelRegistry
from stacks.released_model import ReleasedModel
from stacks.roles import UNSCOPED_ACTIONS, Roles, release_copy_role_path, smoke_runner_name, smoke_test_role
from stacks.serving import EndpointSettings, ModelContainer, Serving
from stacks.storage import S3Location, Storage
from stacks.training_pipeline import CodeBundle, TrainingPipeline


@dataclass(frozen=True)
class SmokeTestOutputs:
    endpoint_url: CfnOutput
    role_arn: CfnOutput
    endpoint_config: CfnOutput


class MlopsStack(Stack):
    """One environment: storage and keys, job roles, both training pipelines and their alerts, the model registry,
    and, once a package is approved or released, serving and batch scoring of it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        delivery_account: str | None = None,
        forward_package_events: bool = False,
        release: Release | None = None,
        smoke_tested: bool = False,
        **kwargs,
    ) -> None:
        """``delivery_account`` runs the delivery pipeline that deploys this stack (None: deployed by hand), and
        ``smoke_tested`` says whether it smoke-tests this stage's endpoint (then the stage has a smoke-test role);
        ``forward_package_events`` sends this registry's approvals to that account's event bus; ``release``
        is a released package this stage serves from its own verified copy."""
        super().__init__(
            scope,
            construct_id,
            description=f"Text-classification MLOps on SageMaker ({config.name})",
            termination_protection=config.retain_stateful_resources,
            **kwargs,
        )
        Tags.of(self).add(PROJECT_TAG, config.name_prefix)
        Tags.of(self).add(STAGE_TAG, config.name)
        Aspects.of(self).add(AcknowledgeUnscopedActions(UNSCOPED_ACTIONS))

        self.storage = Storage(
            self,
            "Storage",
            retain=config.retain_stateful_resources,
            artifact_bucket_name=artifact_bucket_name(config.name_prefix, config.name, Aws.ACCOUNT_ID, Aws.REGION),
            checkpoint_retention=Duration.days(config.checkpoint_retention_days),
            noncurrent_version_retention=Duration.days(config.noncurrent_version_retention_days),
            access_log_retention=Duration.days(config.access_log_retention_days),
            data_capture_retention=Duration.days(config.data_capture_retention_days),
        )
        self.operations_key = OperationsKey(
            self,
            "OperationsKey",
            removal=RemovalPolicy.RETAIN if config.retain_stateful_resources else RemovalPolicy.DESTROY,
        )
        self.roles = Roles(
            self,
            "Roles",
            image_repository_arns=images_for(config.region).repository_arns,
            data_key=self.storage.key,
            training_network_isolation=config.training_network_isolation,
            training_instance_type=config.training_instance_type,
            processing_instance_type=config.processing_instance_type,
            stage=config.name,
        )
        self._grant_data_access()
        self.registry = ModelRegistry(
            self,
            "Registry",
            group_name=config.model_package_group_name,
            artifacts=self.storage.training_output,
            retain=config.retain_stateful_resources,
            consumer_accounts=config.registry_consumer_accounts,
            # The pipeline resolves releases from package metadata; each stage copies the model data itself.
            metadata_only_accounts=[delivery_account] if delivery_account else [],
            model_reader_path=release_copy_role_path(config.name_prefix),
            notification_key=self.operations_key,
        )
        self.baseline = RegressionBaseline(
            self,
            "RegressionBaseline",
            registry=self.registry,
            evaluations=self.storage.evaluations,
            log_key=self.operations_key.key,
        )
        self.code = CodeBundle(self, "CodeBundle")
        inputs = self._pipeline_inputs(config)
        fine_tune = "Fine-tune, evaluate as served, and register a text classifier if it passes the gate"
        self.training_pipeline = self._pipeline(
            "TrainingPipeline", config.pipeline_name, fine_tune, definition(inputs),
            dataset=self.storage.datasets, schedule=config.pipeline_schedule,
        )  # fmt: skip
        # Beside the fine-tune pipeline rather than a mode of it: two training jobs, a teacher evaluation
        # and a teacher-ratio gate are a different DAG, and Studio shows each flow as it runs.
        distill = "Train or take a teacher, distill a student, register the student if it passes the gate"
        self.distillation_pipeline = self._pipeline(
            "DistillationPipeline", config.distillation_pipeline_name, distill, distillation_definition(inputs)
        )
        self._grant_pipeline_access()
        self.alerts = PipelineAlerts(
            self,
            "PipelineAlerts",
            stage=config.name,
            pipeline_arns=[self.training_pipeline.arn, self.distillation_pipeline.arn],
            key=self.operations_key,
        )
        if forward_package_events:
            self.registry.forward_decisions_to(delivery_account)
        self.serving = self._serving(config, release, released=delivery_account is not None)
        if config.retrain_on_quality_alarm and self.serving is not None and self.serving.quality_alarms:
            self.training_pipeline.start_on_alarms([alarm.alarm_arn for alarm in self.serving.quality_alarms])
        self.smoke_test_role_path = f"/{config.name_prefix}-{config.name}/smoke-test/"
        self._output()
        if delivery_account is not None:
            self.smoke_test_outputs = self._smoke_test_access(delivery_account, config, smoke_tested=smoke_tested)

    def _grant_data_access(self) -> None:
        storage, roles = self.storage, self.roles
        for location in (storage.datasets, storage.base_models):
            location.grant_read(roles.training)
        storage.checkpoints.grant_read_write(roles.training)
        # Read too: a distillation student's teacher channel is a training job's model.tar.gz.
        storage.training_output.grant_read_write(roles.training)

        storage.datasets.grant_read(roles.processing)
        storage.training_output.grant_read(roles.processing)
        storage.evaluations.grant_write(roles.processing)

        # The pipeline reads evaluation.json to decide whether to register the model.
        storage.evaluations.grant_read(roles.pipeline_execution)

        # Batch scoring, by `textclf batch` with the served model or by the pipeline with the trained one.
        storage.batch_input.grant_read(roles.batch_transform)
        storage.batch_output.grant_write(roles.batch_transform)
        storage.training_output.grant_read(roles.batch_transform)

    def _pipeline_inputs(self, config: StageConfig) -> PipelineInputs:
        images = images_for(config.region)
        storage = self.storage
        return PipelineInputs(
            region=self.region,
            stage=config.name,
            training_image=images.training,
            inference_image=images.inference,
            training_role_arn=self.roles.training.role_arn,
            processing_role_arn=self.roles.processing.role_arn,
            batch_role_arn=self.roles.batch_transform.role_arn,
            baseline_function_arn=self.baseline.function_arn,
            code_uri=self.code.uri,
            code_file=self.code.file_name,
            dataset_uri=storage.datasets.uri,
            base_model_uri=f"{storage.base_models.uri}{config.base_model}/",
            teacher_base_model_uri=f"{storage.base_models.uri}{config.teacher_base_model}/",
            output_uri=storage.training_output.uri,
            evaluation_uri=storage.evaluations.uri,
            batch_output_uri=storage.batch_output.uri,
            checkpoint_uri=storage.checkpoints.uri,
            key_arn=storage.key.key_arn,
            model_package_group=config.model_package_group_name,
            training_instance_type=config.training_instance_type,
            training_instance_count=config.training_instance_count,
            training_input_mode=config.training_input_mode,
            torch_distributed=config.training_distribution == TORCH_DISTRIBUTED,
            processing_instance_type=config.processing_instance_type,
            use_spot=config.use_spot,
            max_runtime_seconds=config.max_runtime_seconds,
            max_wait_seconds=config.max_wait_seconds,
            network_isolation=config.training_network_isolation,
            min_accuracy=config.min_accuracy,
            regression_margin=config.regression_margin,
            min_class_recall=config.min_class_recall,
            min_teacher_ratio=config.min_teacher_ratio,
            serve_int8=config.serve_int8,
        )

    def _pipeline(self, construct_id: str, name: str, description: str, body: dict, **triggers) -> TrainingPipeline:
        return TrainingPipeline(
            self,
            construct_id,
            pipeline_name=name,
            description=description,
            definition=body,
            execution_role=self.roles.pipeline_execution,
            **triggers,
        )

    def _grant_pipeline_access(self) -> None:
        roles = self.roles
        self.code.grant_read(roles.training)
        self.code.grant_read(roles.processing)
        self.registry.grant_register(roles.pipeline_execution)
        self.registry.grant_read(roles.pipeline_execution)
        self.baseline.grant_invoke(roles.pipeline_execution)

    def _serving(self, config: StageConfig, release: Release | None, *, released: bool) -> Serving | None:
        served = self._model_container(config, release)
        if served is None:
            fix = (
                "approve one in the registry: the approval starts a release that serves it."
                if released
                else f"approve one, then set stages.{config.name}.model_package_arn or pass "
                f"-c model_package_arn=<arn> -c stage={config.name}."
            )
            Annotations.of(self).add_info(
                f"Serving skipped for stage {config.name}: no approved model package yet. Fix: {fix}"
            )
            return None
        container, model_data = served
        model_data.grant_read(self.roles.model_execution)
        self.batch = self._batch_scoring(config, container, model_data)
        realtime = realtime_settings(config)
        capture = realtime is not None and realtime.data_capture_percent > 0
        if capture:
            # SageMaker writes captured requests and responses as the model's role.
            self.storage.data_capture.grant_write(self.roles.model_execution)
        return Serving(
            self,
            "Serving",
            container=container,
            execution_role=self.roles.model_execution,
            name_prefix=f"{config.name_prefix}-{config.name}",
            settings=EndpointSettings(
                memory_mb=config.serverless_memory_mb,
                max_concurrency=config.serverless_max_concurrency,
                provisioned_concurrency=config.serverless_provisioned_concurrency,
                latency_p99_ms=config.alarm_latency_p99_ms,
                errors_5xx=config.alarm_5xx_errors,
                saturated_minutes=config.alarm_saturated_minutes,
                int8=config.serve_int8,
                realtime=realtime,
                update=config.update,
                probes=release.probes if release is not None and release.model_package_arn else (),
                monitor=config.monitor,
                quality_floors=QualityFloors(accuracy=config.min_accuracy, class_recall=config.min_class_recall),
                baseline=release.monitor_baseline if release is not None and release.model_package_arn else None,
            ),
            operations_key=self.operations_key,
            retain=config.retain_stateful_resources,
            data_capture=self.storage.data_capture if capture else None,
            feedback=self.storage.feedback if capture else None,
            volume_key=self.storage.key,
        )

    def _batch_scoring(self, config: StageConfig, container: ModelContainer, model_data: S3Location) -> BatchScoring:
        role = self.roles.batch_transform
        if model_data is not self.storage.training_output:  # a release's copy; training output is granted already
            model_data.grant_read(role)
        return BatchScoring(
            self,
            "BatchScoring",
            container=container,
            role=role,
            name_prefix=f"{config.name_prefix}-{config.name}",
            int8=config.serve_int8,
        )

    def _model_container(
        self, config: StageConfig, release: Release | None
    ) -> tuple[ModelContainer, S3Location] | None:
        """What the stage serves, and where its model data lies: a release is served from this stage's own
        verified copy; a package of its own registry in place."""
        if release is not None and release.model_package_arn is not None:
            copy = ReleasedModel(
                self,
                "ReleasedModel",
                release=release,
                source_bucket=release.source_bucket(config.name_prefix),
                role_path=release_copy_role_path(config.name_prefix),
                destination=self.storage.released_models,
                log_key=self.operations_key.key,
            )
            container = ModelContainer.released(
                package_arn=release.model_package_arn,
                sha256=release.model_data_sha256,
                image=release.image,
                model_data_url=copy.model_data_url,
                environment=dict(release.environment),
            )
            return container, self.storage.released_models
        if config.model_package_arn is not None:
            return ModelContainer.package(config.model_package_arn), self.storage.training_output
        return None

    def _smoke_test_access(self, account: str, config: StageConfig, *, smoke_tested: bool) -> SmokeTestOutputs:
        """A role the delivery account's smoke test assumes to invoke this endpoint, and nothing else.

        Both outputs read ``none`` while no model is served or the stage is not smoke-tested, so the outputs
        exist in every stage.
        """
        url = role_arn = "none"
        endpoint_config = self.serving.endpoint_config.attr_endpoint_config_name if self.serving else "none"
        if self.serving is not None and smoke_tested:
            role = smoke_test_role(
                self,
                "SmokeTestRole",
                trusted_account=account,
                runner_name=smoke_runner_name(config.name_prefix, config.name),
                path=self.smoke_test_role_path,
            )
            self.serving.grant_invoke(role)
            self.serving.grant_read_update_outcome(role)
            url, role_arn = self.serving.invocation_url, role.role_arn
        return SmokeTestOutputs(
            endpoint_url=CfnOutput(self, "EndpointUrl", value=url),
            role_arn=CfnOutput(self, "SmokeTestRoleArn", value=role_arn),
            # What this deployment meant the endpoint to serve: a rolled-back update leaves another one serving
            # (the smoke test and `textclf status` compare).
            endpoint_config=CfnOutput(self, "EndpointConfigName", value=endpoint_config),
        )

    def _output(self) -> None:
        outputs = {
            "DatasetUri": self.storage.datasets.uri,
            "FeedbackUri": self.storage.feedback.uri,
            "BaseModelUri": self.storage.base_models.uri,
            "ArtifactBucketName": self.storage.artifact_bucket.bucket_name,
            "CheckpointBucketName": self.storage.checkpoint_bucket.bucket_name,
            "DataKeyArn": self.storage.key.key_arn,
            "OperationsKeyArn": self.operations_key.key.key_arn,
            "TrainingRoleArn": self.roles.training.role_arn,
            "ProcessingRoleArn": self.roles.processing.role_arn,
            "ModelExecutionRoleArn": self.roles.model_execution.role_arn,
            "PipelineExecutionRoleArn": self.roles.pipeline_execution.role_arn,
            "TrainingPipelineName": self.training_pipeline.pipeline.pipeline_name,
            "DistillationPipelineName": self.distillation_pipeline.pipeline.pipeline_name,
            "ModelPackageGroupName": self.registry.group_name,
            "PackageEventsTopicArn": self.registry.events_topic.topic_arn,
            "PipelineAlertsTopicArn": self.alerts.topic.topic_arn,
            "BatchInputUri": self.storage.batch_input.uri,
            "BatchOutputUri": self.storage.batch_output.uri,
        }
        if self.serving is not None:
            outputs["EndpointName"] = self.serving.endpoint.attr_endpoint_name
            outputs["AlarmTopicArn"] = self.serving.alarm_topic.topic_arn
            outputs["DashboardName"] = self.serving.dashboard.dashboard_name
            outputs["BatchModelName"] = self.batch.model.attr_model_name
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)


def realtime_settings(config: StageConfig) -> RealtimeSettings | None:
    if config.serving_mode != "realtime":
        return None
    return RealtimeSettings(
        instance_type=config.realtime_instance_type,
        min_instances=config.realtime_min_instances,
        max_instances=config.realtime_max_instances,
        invocations_per_instance=config.realtime_invocations_per_instance,
        data_capture_percent=config.data_capture_percent,
    )
