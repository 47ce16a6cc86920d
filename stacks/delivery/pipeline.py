"""Delivery: a CDK Pipeline that promotes infrastructure and the approved model dev → staging → prod.

A release is one pipeline execution. Its ResolveRelease step asks the registry for the newest
*Approved* package and hands that ARN to the synth step as a file, so `cdk synth` itself stays
offline and deterministic, and every stage of the execution deploys the same cloud assembly:
prod serves exactly the package that passed staging's smoke test. An approval or a rejection in
the registry starts a release; after a rejection the newest approved package is the previous one,
which is the rollback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import jsii
from aws_cdk import Aspects, Aws, Duration, IAspect, RemovalPolicy, Stack, pipelines
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as codepipeline_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct, IConstruct

from stacks.arns import arn
from stacks.delivery.config import FAST_CHECKS, WORKLOAD_CHECKS, DeliveryConfig
from stacks.delivery.nag import acknowledge_pipeline_wildcards
from stacks.nag import as_list
from stacks.operations_key import OperationsKey
from stacks.project import ROOT
from stacks.registry import decision_pattern
from stacks.roles import smoke_runner_name
from stacks.stage import MlopsStage
from stacks.storage import access_log_bucket, encrypted_bucket, send_events_to_eventbridge

RELEASE_FILE = "release/release.json"
# ResolveRelease's one-line account of the release (image, environment, model data, SHA-256), shown to approvers.
RELEASE_SUMMARY = "RELEASE_SUMMARY"
# Synth's digest of the cloud assembly it wrote, shown to approvers and checked again after each approval.
ASSEMBLY_SHA256 = "ASSEMBLY_SHA256"
# Every file's SHA-256 and path, in byte order, digested: the one command that digests the assembly Synth wrote and
# the one a stage is about to deploy. Written into the pipeline's own buildspecs, which a commit cannot change
# (the pipeline does not mutate itself), so a commit's code never judges its own assembly.
ASSEMBLY_DIGEST = "find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d ' ' -f 1"
# CodeBuild's image ships these runtimes; the project needs Java for the local endpoint tests. Python is
# the version locks/ are made for (torch's lock holds its CPython 3.11 wheel).
RUNTIMES = {"python": "3.11", "nodejs": "20", "java": "corretto17"}
# What aws-cdk-lib grants the asset-publishing role on "*" and the role never does (_drop_unused_asset_build_grant).
UNUSED_ASSET_BUILD_ACTIONS = {"codebuild:BatchGetBuilds", "codebuild:StartBuild", "codebuild:StopBuild"}
# The release and smoke-test steps need only boto3, hash-locked like every install (locks/regenerate.sh).
INSTALL_BOTO3 = "python -m pip install --quiet --require-hashes --no-deps -r locks/release.lock"


def npm_pin(package: str) -> str:
    """The version package.json pins (the CDK CLI, cdk-assets): what the pipeline's generated steps install
    with ``npm install -g``, so no step takes npm's latest."""
    return json.loads((ROOT / "package.json").read_text())["devDependencies"][package]


@dataclass(frozen=True, kw_only=True)
class RegistrySource:
    """The Model Package Group whose approvals release, in its own account and region."""

    group_name: str
    account: str
    region: str
    # True when the registry lives in another account, which then forwards its events to the pipeline's.
    forwards_events: bool = False

    def arn(self, resource: str) -> str:
        return arn("sagemaker", resource, region=self.region, account=self.account)


class Delivery(Construct):
    """Source, ResolveRelease → Synth (fast checks, then cdk synth) → Rehearse → stages (prod after an approval and
    a check of the assembly it deploys), and the release triggers. The pipeline does not mutate itself: a commit
    cannot change what judges it."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: DeliveryConfig, registry: RegistrySource
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.registry = registry
        self.rollback_stages: list[str] = []
        self.key = kms.Key(
            self,
            "ArtifactKey",
            description="Encrypts pipeline artifacts; stage accounts decrypt them",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.access_log_bucket = access_log_bucket(
            self, "AccessLogBucket", retention=Duration.days(365), removal=RemovalPolicy.RETAIN
        )
        self.artifact_bucket = self._bucket("ArtifactBucket", expiration=Duration.days(90))
        # Approvers subscribe here; CodePipeline publishes each pending approval with its comment.
        self.approval_topic = sns.Topic(self, "ApprovalTopic", master_key=self.key, enforce_ssl=True)
        # Every build's log, kept a year and encrypted, instead of the unencrypted, unexpiring groups CodeBuild
        # would create itself.
        self.build_logs = logs.LogGroup(
            self,
            "BuildLogs",
            retention=logs.RetentionDays.ONE_YEAR,
            removal_policy=RemovalPolicy.RETAIN,
            encryption_key=OperationsKey(self, "OperationsKey", removal=RemovalPolicy.RETAIN).key,
        )
        self.source_bucket = None if config.uses_connection else self._source_bucket()
        self.source = self._source()
        self.release = self._release_step()
        self.synth = self._synth_step()
        self.pipeline = pipelines.CodePipeline(
            self,
            "CodePipeline",
            code_pipeline=codepipeline.Pipeline(
                self,
                "Pipeline",
                artifact_bucket=self.artifact_bucket,
                pipeline_type=codepipeline.PipelineType.V2,
            ),
            synth=self.synth,
            # A commit cannot change the pipeline that judges it: pipeline changes deploy only through
            # `cdk deploy Delivery` by a platform engineer (docs/delivery.md, "Changing the pipeline").
            self_mutation=False,
            cli_version=npm_pin("aws-cdk"),
            cdk_assets_cli_version=npm_pin("cdk-assets"),
            code_build_defaults=pipelines.CodeBuildOptions(
                build_environment=codebuild.BuildEnvironment(
                    build_image=codebuild.LinuxBuildImage.STANDARD_7_0,
                    compute_type=codebuild.ComputeType.MEDIUM,
                ),
                timeout=Duration.minutes(60),
                logging=codebuild.LoggingOptions(
                    cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=self.build_logs)
                ),
            ),
            publish_assets_in_parallel=False,
        )

    def add_release_stage(self, stage: MlopsStage, *, approval: bool, smoke_test: bool) -> pipelines.StageDeployment:
        """Deploy ``stage``; ``approval`` puts a manual approval first, ``smoke_test`` probes its endpoint after."""
        pre = self._approval_steps(stage) if approval else []
        if not self.pipeline.waves:
            # The whole rehearsal gates the first deployment; every later stage follows that one.
            pre = [self._rehearse_step(), *pre]
        post = [self._smoke_step(stage)] if smoke_test else []
        if smoke_test:
            self.rollback_stages.append(stage.stage_name)
        return self.pipeline.add_stage(stage, pre=pre, post=post)

    def _approval_steps(self, stage: MlopsStage) -> list[pipelines.Step]:
        """An approval that names the commit, the cloud assembly's digest and the release, then a check that the
        assembly about to deploy is still that one: the artifact bucket is shared by every execution, and another
        execution's build may write to it while this one waits for approval."""
        approval = pipelines.ManualApprovalStep(
            f"Promote{stage.config.construct_id}",
            # Variables of this execution, so that the pipeline does not change with the commit or the release.
            comment=f"Promote to {stage.config.name}: commit {self._commit()}, cloud assembly sha256 "
            f"{self.synth.exported_variable(ASSEMBLY_SHA256)}; {self.release.exported_variable(RELEASE_SUMMARY)}. "
            f"The earlier stages deployed and smoke-tested their stacks of this assembly; {stage.config.name}'s "
            "stacks in it deploy here first.",
            notification_topic=self.approval_topic,
        )
        verify = pipelines.CodeBuildStep(
            f"Verify{stage.config.construct_id}Assembly",
            input=self.synth.primary_output,
            env={"APPROVED_SHA256": self.synth.exported_variable(ASSEMBLY_SHA256)},
            commands=[
                f'test "$({ASSEMBLY_DIGEST})" = "$APPROVED_SHA256" || '
                '{ echo "the cloud assembly is not the approved one (sha256 $APPROVED_SHA256): '
                'another build wrote over it; release again"; exit 1; }'
            ],
            partial_build_spec=_runtimes(),
        )
        verify.add_step_dependency(approval)
        return [approval, verify]

    def _commit(self) -> str:
        """The source's revision as CodePipeline names it: a connection's commit, an S3 object's version."""
        return self.source.source_attribute("CommitId" if self.config.uses_connection else "VersionId")

    def build(self) -> codepipeline.Pipeline:
        """Freeze the pipeline, then add what needs the built pipeline: its release triggers."""
        self.pipeline.build_pipeline()
        pipeline = self.pipeline.pipeline
        self._drop_unused_asset_build_grant()
        self._roll_back_on_failure(pipeline, self.rollback_stages)
        self.approval_rule = events.Rule(
            self,
            "ModelApprovalRule",
            description=f"Release when a package in {self.registry.group_name} is approved or rejected",
            event_pattern=decision_pattern(self.registry.group_name, self.registry.account),
            targets=[targets.CodePipeline(pipeline)],
        )
        if self.registry.forwards_events:
            # The registry's account forwards its decisions here (ModelRegistry.forward_decisions_to).
            events.CfnEventBusPolicy(
                self,
                "RegistryEventsPolicy",
                event_bus_name="default",
                statement_id="RegistryAccountDecisions",
                statement=iam.PolicyStatement(
                    actions=["events:PutEvents"],
                    principals=[iam.AccountPrincipal(self.registry.account)],
                    resources=[arn("events", "event-bus/default")],
                    # Only the registry's decisions, which is all that account forwards here.
                    conditions={
                        "StringEquals": {
                            "events:source": "aws.sagemaker",
                            "events:detail-type": "SageMaker Model Package State Change",
                        }
                    },
                ).to_statement_json(),
            )
        if self.source_bucket is not None:
            events.Rule(
                self,
                "SourceUploadRule",
                description=f"Release when a new {self.config.source_object_key} is uploaded",
                event_pattern=events.EventPattern(
                    source=["aws.s3"],
                    detail_type=["Object Created"],
                    detail={
                        "bucket": {"name": [self.source_bucket.bucket_name]},
                        "object": {"key": [self.config.source_object_key]},
                    },
                ),
                targets=[targets.CodePipeline(pipeline)],
            )
        stores = [self.artifact_bucket, self.key, *([self.source_bucket] if self.source_bucket else [])]
        acknowledge_pipeline_wildcards(self, artifact_stores=stores)
        return pipeline

    def _drop_unused_asset_build_grant(self) -> None:
        """aws-cdk-lib lets the asset-publishing role start, watch and stop every CodeBuild project ("*"), self-
        mutation included. That role only runs the asset builds; the pipeline starts them with its CodeBuild
        action role, which names each project. The three unused actions are taken out of the synthesized policy."""
        role = self.pipeline.node.find_child("Assets").node.find_child("FileRole")
        policy = role.node.find_child("DefaultPolicy").node.default_child
        assert isinstance(policy, iam.CfnPolicy), "a Role's DefaultPolicy holds its CfnPolicy"
        # At synthesis, so that statements added to the role later still reach the template (and cdk-nag).
        Aspects.of(policy).add(_WithoutUnusedAssetBuilds())

    @staticmethod
    def _roll_back_on_failure(pipeline: codepipeline.Pipeline, stage_names: list[str]) -> None:
        """A failed deploy or smoke test puts the stage back to its last successful execution.

        That execution's templates carry its model package ARN, so the model and the infrastructure
        return together. CDK Pipelines builds the stages itself, so this is set on the L1.
        """
        names = [stage.stage_name for stage in pipeline.stages]
        cfn = pipeline.node.default_child
        assert isinstance(cfn, codepipeline.CfnPipeline), "a Pipeline's default child is its CfnPipeline"
        for name in stage_names:
            cfn.add_property_override(f"Stages.{names.index(name)}.OnFailure", {"Result": "ROLLBACK"})

    def _bucket(self, construct_id: str, *, expiration: Duration | None = None) -> s3.Bucket:
        return encrypted_bucket(
            self,
            construct_id,
            key=self.key,
            access_logs=self.access_log_bucket,
            removal=RemovalPolicy.RETAIN,
            noncurrent_version_retention=Duration.days(30),
            expiration=expiration,
        )

    def _source_bucket(self) -> s3.Bucket:
        bucket = self._bucket("SourceBucket")
        # Uploads start a release (SourceUploadRule).
        send_events_to_eventbridge(bucket)
        return bucket

    def _source(self) -> pipelines.CodePipelineSource:
        config = self.config
        if config.uses_connection:
            return pipelines.CodePipelineSource.connection(
                config.repository, config.branch, connection_arn=config.connection_arn
            )
        return pipelines.CodePipelineSource.s3(
            self.source_bucket,
            config.source_object_key,
            action_name="Source",
            # SourceUploadRule starts the pipeline through EventBridge instead of polling.
            trigger=codepipeline_actions.S3Trigger.NONE,
        )

    def _release_step(self) -> pipelines.CodeBuildStep:
        registry = self.registry
        return pipelines.CodeBuildStep(
            "ResolveRelease",
            input=self.source,
            install_commands=[INSTALL_BOTO3],
            commands=[
                "python -m delivery_steps.release resolve"
                f" --group {registry.arn(f'model-package-group/{registry.group_name}')}"
                f" --region {registry.region} --out {RELEASE_FILE}",
                f'export {RELEASE_SUMMARY}="$(python -m delivery_steps.release summary --file {RELEASE_FILE})"',
            ],
            primary_output_directory="release",
            role_policy_statements=[
                iam.PolicyStatement(
                    actions=[
                        "sagemaker:DescribeModelPackageGroup",
                        "sagemaker:ListModelPackages",
                        "sagemaker:DescribeModelPackage",
                    ],
                    resources=[
                        registry.arn(f"model-package-group/{registry.group_name}"),
                        registry.arn(f"model-package/{registry.group_name}/*"),
                    ],
                )
            ],
            partial_build_spec=_runtimes(),
        )

    def _synth_step(self) -> pipelines.CodeBuildStep:
        return pipelines.CodeBuildStep(
            "Synth",
            input=self.source,
            additional_inputs={"release": self.release},
            # The fast checks first (lint, types, synth with cdk-nag, cfn-lint, checkov, the policy engine): nothing
            # deploys that fails them. What trains, runs jobs or serves runs in the Rehearse action (rehearse_step).
            commands=[
                f"make {FAST_CHECKS}",
                "PATH=$PWD/.venv/bin:$PATH npx cdk synth --app '.venv/bin/python app.py' -c stage=delivery "
                f"-c release={RELEASE_FILE}",
                f'export {ASSEMBLY_SHA256}="$(cd cdk.out && {ASSEMBLY_DIGEST})"',
            ],
            primary_output_directory="cdk.out",
            partial_build_spec=_runtimes(),
        )

    def _rehearse_step(self) -> pipelines.CodeBuildStep:
        """The rest of the README's test command: the rehearsal's jobs, model servers and whole flows. It gates the
        first deployment and writes no artifact, so the one privileged build cannot touch what the stages deploy."""
        return pipelines.CodeBuildStep(
            "Rehearse",
            input=self.source,
            commands=[f"make {WORKLOAD_CHECKS}"],
            partial_build_spec=_runtimes(),
            # Each rehearsed job gets its own /opt/ml and network (unshare): CAP_SYS_ADMIN, which only a privileged
            # build has (docs/security.md, "Privileged Rehearse build").
            build_environment=codebuild.BuildEnvironment(privileged=True),
        )

    def _smoke_step(self, stage: MlopsStage) -> pipelines.CodeBuildStep:
        config, outputs = self.config, stage.mlops.smoke_test_outputs
        # The stage's smoke-test role trusts this role only, by name (stacks.roles.smoke_test_role).
        runner = iam.Role(
            self,
            f"{stage.stage_name}SmokeTestRunner",
            assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"),
            role_name=smoke_runner_name(stage.config.name_prefix, stage.config.name),
            description=f"Runs the smoke test of {stage.stage_name}'s endpoint",
        )
        return pipelines.CodeBuildStep(
            "SmokeTest",
            input=self.source,
            role=runner,
            install_commands=[INSTALL_BOTO3],
            commands=[
                f'python -m delivery_steps.smoke --url "$ENDPOINT_URL" --role-arn "$SMOKE_TEST_ROLE_ARN" '
                f"--cases {config.smoke_cases} --latency-p95-ms {config.smoke_latency_p95_ms} "
                f'--min-accuracy {config.smoke_min_accuracy} --endpoint-config "$ENDPOINT_CONFIG_NAME"'
            ],
            env_from_cfn_outputs={
                "ENDPOINT_URL": outputs.endpoint_url,
                "SMOKE_TEST_ROLE_ARN": outputs.role_arn,
                "ENDPOINT_CONFIG_NAME": outputs.endpoint_config,
            },
            role_policy_statements=[
                iam.PolicyStatement(
                    actions=["sts:AssumeRole"],
                    resources=[
                        arn(
                            "iam",
                            f"role{stage.mlops.smoke_test_role_path}*",
                            region="",
                            account=stage.config.account or Aws.ACCOUNT_ID,
                        )
                    ],
                )
            ],
            partial_build_spec=_runtimes(),
        )


@jsii.implements(IAspect)
class _WithoutUnusedAssetBuilds:
    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, iam.CfnPolicy):
            return
        document = Stack.of(node).resolve(node.policy_document)
        kept, dropped = [], set()
        for statement in document["Statement"]:
            actions = as_list(statement["Action"])
            if as_list(statement.get("Resource")) == ["*"]:
                dropped |= UNUSED_ASSET_BUILD_ACTIONS & set(actions)
                actions = [a for a in actions if a not in UNUSED_ASSET_BUILD_ACTIONS]
            if actions:
                kept.append({**statement, "Action": actions if len(actions) > 1 else actions[0]})
        if dropped != UNUSED_ASSET_BUILD_ACTIONS:
            raise RuntimeError("aws-cdk-lib changed the asset role's CodeBuild grant (_drop_unused_asset_build_grant)")
        node.policy_document = {**document, "Statement": kept}


def _runtimes() -> codebuild.BuildSpec:
    return codebuild.BuildSpec.from_object({"phases": {"install": {"runtime-versions": RUNTIMES}}})
