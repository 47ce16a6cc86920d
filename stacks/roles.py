"""Roles: one IAM role per SageMaker job type, and the pipeline role that starts them.

Data access is granted by the stack through :class:`stacks.storage.S3Location`;
this construct holds what each job needs from SageMaker itself: its container
images, its log group, its metrics namespace, and nothing account-wide.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.arns import arn, nag_arn
from stacks.config import STAGE_TAG
from stacks.instances import PROCESSING, TRAINING, TRANSFORM, family_patterns, has_instance_store, same_storage
from stacks.nag import acknowledge

SAGEMAKER = "sagemaker.amazonaws.com"
# Granted on "*" though AWS's data lists a resource type for it, and why (stacks.nag.AcknowledgeUnscopedActions).
UNSCOPED_ACTIONS = {
    "cloudwatch:PutMetricData": "its only resource type is a CloudWatch dataset (OTLP), which job metrics do not "
    "go to, so they are authorized on no resource; a condition limits it to the job type's namespace",
    "cloudwatch:GetMetricData": "its only resource type is a CloudWatch dataset (OTLP); the drift monitor queries "
    "metrics, which are authorized on no resource",
}


class Roles(Construct):
    """Execution roles for training, processing, serving and the pipeline."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        image_repository_arns: Sequence[str],
        data_key: kms.IKey,
        stage: str,
        training_instance_type: str,
        processing_instance_type: str,
        training_network_isolation: bool = True,
    ) -> None:
        """``stage``: the pipeline role may start, see and stop only jobs tagged with it (STAGE_TAG);
        ``training_network_isolation``: it may start training jobs only so (config); the instance types: it may
        start jobs only with the storage their configured types have (job_conditions)."""
        super().__init__(scope, construct_id)
        self._image_repository_arns = list(image_repository_arns)
        self.training = self._job_role("TrainingRole", "Runs training jobs", log_group="TrainingJobs")
        self.processing = self._job_role(
            "ProcessingRole", "Runs evaluation processing jobs", log_group="ProcessingJobs"
        )
        self.model_execution = self._job_role("ModelExecutionRole", "Serves models on endpoints", log_group=None)
        self.batch_transform = self._job_role(
            "BatchTransformRole", "Runs batch transform jobs of a trained or served model", log_group="TransformJobs"
        )
        self.pipeline_execution = iam.Role(
            self,
            "PipelineExecutionRole",
            assumed_by=iam.ServicePrincipal(SAGEMAKER),
            description="Runs the SageMaker training pipeline: starts jobs and passes them their roles",
        )
        self._allow_pipeline_to_run_jobs(
            data_key,
            stage,
            training=job_conditions(
                data_key.key_arn,
                stage,
                instance=(TRAINING, training_instance_type),
                isolated=training_network_isolation,
            ),
            # Evaluation reads datasets and models and calls no AWS API: every processing job runs isolated.
            processing=job_conditions(
                data_key.key_arn, stage, instance=(PROCESSING, processing_instance_type), isolated=True
            ),
            transform=_on_storage_of(
                (TRANSFORM, processing_instance_type),
                {"StringEquals": {f"aws:RequestTag/{STAGE_TAG}": stage, "sagemaker:OutputKmsKeyArn": data_key.key_arn}},
                data_key.key_arn,
            ),
        )

    def _job_role(self, construct_id: str, description: str, *, log_group: str | None) -> iam.Role:
        """A role SageMaker runs a container as: it pulls the image and, for jobs, logs to ``log_group``.

        An endpoint's log group is named after the endpoint; the Serving construct creates it and grants it.
        """
        role = iam.Role(self, construct_id, assumed_by=iam.ServicePrincipal(SAGEMAKER), description=description)
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                resources=self._image_repository_arns,
            )
        )
        # GetAuthorizationToken is authorized on no resource; PutMetricData, see UNSCOPED_ACTIONS.
        role.add_to_policy(iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"]))
        if log_group is None:
            return role
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": f"/aws/sagemaker/{log_group}"}},
            )
        )
        log_group_arn = f"log-group:/aws/sagemaker/{log_group}:*"
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
                resources=[arn("logs", log_group_arn)],
            )
        )
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{nag_arn('logs', log_group_arn)}]",
            f"SageMaker names one log stream per job in /aws/sagemaker/{log_group}; streams are not known "
            "before the job runs, so the grant covers that one log group's streams.",
        )
        return role

    def _allow_pipeline_to_run_jobs(
        self, data_key: kms.IKey, stage: str, *, training: dict, processing: dict, transform: dict
    ) -> None:
        """``training``, ``processing``, ``transform``: the conditions each Create*Job must meet."""
        role = self.pipeline_execution
        tagged = {"StringEquals": {f"aws:RequestTag/{STAGE_TAG}": stage}}
        jobs = {
            "training-job/*": ("TrainingJob", training),
            "processing-job/*": ("ProcessingJob", processing),
            # The optional batch step: a network-isolated model of the trained weights, then a transform job of it
            # with the stage's key on its output, and on its volume where it has EBS (CreateTransformJob has no
            # traffic or network keys).
            "model/*": ("Model", {**tagged, "Bool": {"sagemaker:NetworkIsolation": "true"}}),
            "transform-job/*": ("TransformJob", transform),
        }
        for resource, (job, conditions) in jobs.items():
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=[f"sagemaker:Create{job}"], resources=[arn("sagemaker", resource)], conditions=conditions
                )
            )
            # Job names are generated, so the stage's tag tells its jobs from another stage's in one account. Tags
            # only at creation: re-tagging another stage's job with this stage's tag would let this role stop it.
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["sagemaker:AddTags"],
                    resources=[arn("sagemaker", resource)],
                    conditions={"StringEquals": {**tagged["StringEquals"], "sagemaker:TaggingAction": f"Create{job}"}},
                )
            )
            # A model is only created (and read by its transform job); jobs are described and may be stopped.
            watch = [f"sagemaker:Describe{job}"] + ([f"sagemaker:Stop{job}"] if job != "Model" else [])
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=watch,
                    resources=[arn("sagemaker", resource)],
                    conditions={"StringEquals": {f"aws:ResourceTag/{STAGE_TAG}": stage}},
                )
            )
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Resource::{nag_arn('sagemaker', resource)}]",
                f"SageMaker Pipelines generates a unique {job} name per execution, so the grant covers "
                "this account and region's resources of that type, tagged with this stage, only.",
            )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[self.training.role_arn, self.processing.role_arn, self.batch_transform.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": SAGEMAKER}},
            )
        )
        # SageMaker creates grants on the key to encrypt job volumes for the caller.
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:CreateGrant"],
                resources=[data_key.key_arn],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            )
        )
        role.add_to_policy(iam.PolicyStatement(actions=["kms:DescribeKey"], resources=[data_key.key_arn]))


def job_conditions(key_arn: str, stage: str, *, instance: tuple[str, str], isolated: bool) -> dict:
    """What a job must set for the pipeline role to start it: the stage's tag, the stage's key on its outputs and
    its EBS volumes, encrypted traffic between its instances, and (``isolated``) no network. ``instance``: the API's
    instance type enum (stacks.instances) and the configured type. The definition sets them too; these hold for a
    definition edited outside the stack."""
    conditions: dict = {
        "StringEquals": {f"aws:RequestTag/{STAGE_TAG}": stage, "sagemaker:OutputKmsKeyArn": key_arn},
        "Bool": {"sagemaker:InterContainerTrafficEncryption": "true"},
    }
    if isolated:
        conditions["Bool"]["sagemaker:NetworkIsolation"] = "true"
    return _on_storage_of(instance, conditions, key_arn)


def _on_storage_of(instance: tuple[str, str], conditions: dict, key_arn: str) -> dict:
    """Jobs on the configured type's storage kind only: with the stage's key on an EBS volume, or, where the configured
    type has local storage that SageMaker refuses a key for, on a type of such a family (sagemaker:InstanceTypes,
    so that no job on EBS runs without the stage's key)."""
    api_type, instance_type = instance
    if not has_instance_store(instance_type):
        return {**conditions, "StringEquals": {**conditions["StringEquals"], "sagemaker:VolumeKmsKeyArn": key_arn}}
    # Every type of the request must match; "Null" refuses a request that names none.
    return {
        **conditions,
        "ForAllValues:StringLike": {"sagemaker:InstanceTypes": family_patterns(same_storage(api_type, instance_type))},
        "Null": {"sagemaker:InstanceTypes": "false"},
    }


def release_copy_role_path(name_prefix: str) -> str:
    """The path of every stage's release-copy role (stacks/released_model.py): the source stage's bucket and key
    policies let exactly these roles of the consumer accounts read model data, not those accounts as a whole."""
    return f"/{name_prefix}-release-copy/"


def smoke_runner_name(name_prefix: str, stage: str) -> str:
    """The name of the delivery pipeline's smoke-test runner for one stage (its CodeBuild step's role), derived
    from the stage's config so that the stage, in its own account, can trust exactly that role."""
    return f"{name_prefix}-{stage}-smoke-test-runner"


def smoke_test_role(
    scope: Construct, construct_id: str, *, trusted_account: str, runner_name: str, path: str
) -> iam.Role:
    """A role the delivery pipeline's smoke test assumes from ``trusted_account``; callers grant it the endpoint.

    Only the runner role named ``runner_name`` in that account may assume it, not the account as a whole.
    Its own path is fixed so the pipeline can name the role (``role<path>*``) before CloudFormation names it.
    """
    runner = f"arn:{Aws.PARTITION}:iam::{trusted_account}:role/{runner_name}"
    return iam.Role(
        scope,
        construct_id,
        assumed_by=iam.AccountPrincipal(trusted_account).with_conditions({"ArnEquals": {"aws:PrincipalArn": runner}}),
        path=path,
        max_session_duration=Duration.hours(1),
        description="Assumed by the delivery pipeline's smoke test to invoke this stage's endpoint",
    )
