"""ReleasedModel: the stage's own, verified copy of a released model artifact.

A released package's model data lives in the source stage's bucket (dev's), where that stage's
training role writes and which is destroyed with dev. Serving it in place would let dev break or
alter what staging and prod serve. Instead, every serving stage copies it at deploy time into its
own artifact bucket under ``released-models/<sha256>/`` and serves that copy, after checking the
bytes against the SHA-256 recorded in the registry at evaluation. The copy runs as a custom
resource in the stage's own account, before the model is created.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CustomResource, Duration, Size, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks.arns import arn, nag_arn
from stacks.config import MODEL_DATA_PREFIX
from stacks.delivery.config import Release
from stacks.function import project_function
from stacks.nag import acknowledge
from stacks.storage import S3Location

FUNCTION_CODE = Path(__file__).resolve().parent / "functions" / "copy_model"
RESOURCE_TYPE = "Custom::ReleasedModel"


class ReleasedModel(Construct):
    """Copies ``release.model_data_url`` into ``destination`` and verifies it; ``model_data_url`` is the copy."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        release: Release,
        source_bucket: str,
        role_path: str,
        destination: S3Location,
        log_key: kms.IKey,
    ) -> None:
        """``source_bucket``: the source stage's artifact bucket, where ``release.model_data_url`` lies under its
        training outputs (``Release.check_served_by``)."""
        super().__init__(scope, construct_id)
        assert release.model_data_url and release.model_data_sha256
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Copies one released model artifact into this stage's bucket",
            # The source stage's bucket and key policies admit roles under this path of this account only.
            path=role_path,
        )
        self._grant_source(role, release, source_bucket)
        destination.grant_write(role)
        function = project_function(
            self,
            role=role,
            log_key=log_key,
            handler="index.handler",
            code=lambda_.Code.from_asset(str(FUNCTION_CODE)),
            description="Copies the released model.tar.gz into this stage's bucket and checks its SHA-256",
            # Models of a few hundred MB stream through /tmp once.
            timeout=Duration.minutes(10),
            memory_size=1024,
            ephemeral_storage_size=Size.gibibytes(4),
        )
        self.copy = CustomResource(
            self,
            "Copy",
            service_token=function.function_arn,
            resource_type=RESOURCE_TYPE,
            properties={
                "SourceModelDataUrl": release.model_data_url,
                "Sha256": release.model_data_sha256,
                "DestinationBucket": destination.bucket.bucket_name,
                "DestinationPrefix": destination.prefix,
            },
            # The copy streams a few hundred MB within the function's 10 minutes; past that, fail rather than
            # keep the deployment waiting CloudFormation's default hour.
            service_timeout=Duration.minutes(12),
        )
        # The copy needs its role's policy in place, not only the role.
        self.copy.node.add_dependency(role)
        self.model_data_url = self.copy.get_att_string("ModelDataUrl")

    @staticmethod
    def _grant_source(role: iam.Role, release: Release, bucket: str) -> None:
        """Read the source stage's training outputs, in the account that registered the release, and decrypt them
        through S3 there. Decrypting through S3 reaches no further than reading: S3 decrypts only for an object
        read the role is allowed."""
        owner, region = release.owner_account, Stack.of(role).region
        outputs = f"{bucket}/{MODEL_DATA_PREFIX}*"
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[arn("s3", outputs, region="", account="")],
                conditions={"StringEquals": {"s3:ResourceAccount": owner}},
            )
        )
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{nag_arn('s3', outputs, region='', account='')}]",
            "The source stage's training outputs, where every registered model's data lies; which one a release "
            "serves is decided at deployment, and its SHA-256 is checked before it is served.",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt"],
                resources=[arn("kms", "key/*", region=region, account=owner)],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
            )
        )
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{nag_arn('kms', 'key/*', region=region, account=owner)}]",
            f"The released artifact is encrypted with the key of the account that registered it ({owner}), "
            "whose id is not known to this stack; decryption is bounded to that account and to S3.",
        )
