"""Storage: the KMS key and the S3 buckets every job reads and writes.

Callers get least-privilege access through :class:`S3Location` grants, which
name one prefix each, so no role ever holds a whole bucket.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.checkov import allow
from stacks.config import MODEL_DATA_PREFIX
from stacks.nag import acknowledge

RELEASED_MODELS_PREFIX = "released-models/"
DATA_CAPTURE_PREFIX = "data-capture/"
# S3's shortest noncurrent expiration: how long a captured request outlives its stated retention.
CAPTURE_NONCURRENT_LIFETIME = Duration.days(1)


@dataclass(frozen=True)
class S3Location:
    """One prefix of one bucket, the unit of every S3 grant in this app."""

    bucket: s3.IBucket
    prefix: str
    key: kms.IKey

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket.bucket_name}/{self.prefix}"

    @property
    def objects_arn(self) -> str:
        return self.bucket.arn_for_objects(f"{self.prefix}*")

    def grant_read(self, grantee: iam.IGrantable) -> None:
        self._grant(grantee, ["s3:GetObject"], ["kms:Decrypt"])

    def grant_write(self, grantee: iam.IGrantable) -> None:
        self._grant(grantee, ["s3:PutObject", "s3:AbortMultipartUpload"], ["kms:GenerateDataKey", "kms:Decrypt"])

    def grant_read_write(self, grantee: iam.IGrantable) -> None:
        self._grant(
            grantee,
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
            ["kms:GenerateDataKey", "kms:Decrypt"],
        )

    def _grant(self, grantee: iam.IGrantable, object_actions: list[str], key_actions: list[str]) -> None:
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=object_actions, resources=[self.objects_arn])
        )
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[self.bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{self.prefix}*"]}},
            )
        )
        # S3 calls KMS on the caller's behalf; ViaService keeps the key out of direct use.
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=key_actions,
                resources=[self.key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{Stack.of(self.bucket).region}.amazonaws.com"}},
            )
        )
        acknowledge(
            grantee.grant_principal,
            f"AwsSolutions-IAM5[Resource::<{_logical_id(self.bucket)}.Arn>/{self.prefix}*]",
            f"Object keys under {self.prefix} are created at run time (uploaded datasets, per-job "
            "outputs and checkpoints) and unknown at synth, so the grant covers that one prefix.",
        )


def _logical_id(bucket: s3.IBucket) -> str:
    return Stack.of(bucket).get_logical_id(bucket.node.default_child)


class Storage(Construct):
    """Customer-managed key, data buckets and their access-log bucket."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        retain: bool,
        artifact_bucket_name: str,
        checkpoint_retention: Duration,
        noncurrent_version_retention: Duration,
        access_log_retention: Duration,
        data_capture_retention: Duration,
    ) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY
        self.key = kms.Key(
            self,
            "DataKey",
            description="Encrypts datasets, model artifacts, checkpoints and job volumes",
            enable_key_rotation=True,
            removal_policy=removal,
        )
        self.access_log_bucket = access_log_bucket(
            self, "AccessLogBucket", retention=access_log_retention, removal=removal
        )
        self.dataset_bucket = self._data_bucket("DatasetBucket", removal, noncurrent_version_retention)
        # Captured requests are users' text: they expire, as the stage config says. The bucket is versioned, so an
        # expired capture lives on as a noncurrent version: that one goes a day later, not another retention period.
        self.dataset_bucket.add_lifecycle_rule(
            prefix=DATA_CAPTURE_PREFIX,
            expiration=data_capture_retention,
            noncurrent_version_expiration=CAPTURE_NONCURRENT_LIFETIME,
        )
        # New data starts the training pipeline.
        send_events_to_eventbridge(self.dataset_bucket)
        self.artifact_bucket = self._data_bucket(
            "ModelArtifactBucket", removal, noncurrent_version_retention, bucket_name=artifact_bucket_name
        )
        self.checkpoint_bucket = self._data_bucket(
            "CheckpointBucket", removal, noncurrent_version_retention, expiration=checkpoint_retention
        )

        # The prefixes jobs may touch; everything else in the buckets is out of reach.
        self.datasets = S3Location(self.dataset_bucket, "datasets/", self.key)
        self.base_models = S3Location(self.dataset_bucket, "base-models/", self.key)
        self.training_output = S3Location(self.artifact_bucket, MODEL_DATA_PREFIX, self.key)
        self.evaluations = S3Location(self.artifact_bucket, "evaluations/", self.key)
        # Stage-owned, verified copies of released models (ReleasedModel); no job role may write here.
        self.released_models = S3Location(self.artifact_bucket, RELEASED_MODELS_PREFIX, self.key)
        self.checkpoints = S3Location(self.checkpoint_bucket, "checkpoints/", self.key)
        # What a realtime endpoint captures (requests and responses), for monitoring and the next dataset.
        self.data_capture = S3Location(self.dataset_bucket, DATA_CAPTURE_PREFIX, self.key)
        # True labels given later for captured answers (`textclf feedback upload`), which late-label quality joins.
        self.feedback = S3Location(self.dataset_bucket, "feedback/", self.key)
        # Batch scoring (`textclf batch`): its jobs read only the input prefix and write only the output prefix.
        self.batch_input = S3Location(self.dataset_bucket, "batch/input/", self.key)
        self.batch_output = S3Location(self.dataset_bucket, "batch/output/", self.key)

    def _data_bucket(
        self,
        construct_id: str,
        removal: RemovalPolicy,
        noncurrent_version_retention: Duration,
        *,
        expiration: Duration | None = None,
        bucket_name: str | None = None,
    ) -> s3.Bucket:
        return encrypted_bucket(
            self,
            construct_id,
            key=self.key,
            access_logs=self.access_log_bucket,
            removal=removal,
            noncurrent_version_retention=noncurrent_version_retention,
            expiration=expiration,
            bucket_name=bucket_name,
        )


def access_log_bucket(scope: Construct, construct_id: str, *, retention: Duration, removal: RemovalPolicy) -> s3.Bucket:
    """Where the other buckets' server access logs go, kept for ``retention``."""
    bucket = s3.Bucket(
        scope,
        construct_id,
        # S3 server access logging cannot deliver to SSE-KMS buckets.
        encryption=s3.BucketEncryption.S3_MANAGED,
        lifecycle_rules=[s3.LifecycleRule(expiration=retention, noncurrent_version_expiration=retention)],
        **_private_bucket_props(removal),
    )
    allow(
        bucket,
        "CKV_AWS_18",
        "This bucket receives the other buckets' access logs; logging its own access into itself would log "
        "every log delivery, without end.",
    )
    return bucket


def encrypted_bucket(
    scope: Construct,
    construct_id: str,
    *,
    key: kms.IKey,
    access_logs: s3.IBucket,
    removal: RemovalPolicy,
    noncurrent_version_retention: Duration,
    expiration: Duration | None = None,
    bucket_name: str | None = None,
) -> s3.Bucket:
    """An SSE-KMS bucket logging to ``access_logs``; old versions and abandoned uploads expire."""
    return s3.Bucket(
        scope,
        construct_id,
        bucket_name=bucket_name,
        encryption=s3.BucketEncryption.KMS,
        encryption_key=key,
        bucket_key_enabled=True,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=f"{construct_id}/",
        lifecycle_rules=[
            s3.LifecycleRule(
                expiration=expiration,
                noncurrent_version_expiration=noncurrent_version_retention,
                abort_incomplete_multipart_upload_after=Duration.days(7),
            )
        ],
        **_private_bucket_props(removal),
    )


def send_events_to_eventbridge(bucket: s3.Bucket) -> None:
    """Publish the bucket's object events to EventBridge, where rules start pipelines.

    Set on the L1: the L2 switch deploys a notifications Lambda to do what CloudFormation does natively.
    """
    cfn = bucket.node.default_child
    assert isinstance(cfn, s3.CfnBucket), "an s3.Bucket's default child is its CfnBucket"
    cfn.add_property_override("NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled", True)


def _private_bucket_props(removal: RemovalPolicy) -> dict:
    """What every bucket in this app has: no public access, TLS only, versions, owner-enforced objects."""
    return dict(
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        versioned=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        removal_policy=removal,
    )
