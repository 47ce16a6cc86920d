"""Model registry: the Model Package Group, who else may read it, and its state-change events."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from stacks.arns import arn, nag_arn
from stacks.nag import acknowledge
from stacks.operations_key import OperationsKey
from stacks.storage import S3Location
from stacks.topics import RuleToTopic, encrypted_topic
from training import contract

READ_PACKAGES = ["sagemaker:DescribeModelPackageGroup", "sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages"]


class ModelRegistry(Construct):
    """The Model Package Group (retained with the stage's data); consumer accounts may read packages and artifacts."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        group_name: str,
        artifacts: S3Location,
        retain: bool,
        notification_key: OperationsKey,
        consumer_accounts: Sequence[str] = (),
        metadata_only_accounts: Sequence[str] = (),
        model_reader_path: str = "/",
    ) -> None:
        """``consumer_accounts`` may read packages (the stages that copy releases, and the delivery pipeline's);
        their roles under ``model_reader_path`` (the release-copy roles) may also read the model data, unless the
        account is in ``metadata_only_accounts`` (the delivery pipeline's, which only resolves releases)."""
        super().__init__(scope, construct_id)
        self.group_name = group_name
        self.group_arn = arn("sagemaker", f"model-package-group/{group_name}")
        self.packages_arn = arn("sagemaker", f"model-package/{group_name}/*")
        consumers = [iam.AccountPrincipal(account) for account in consumer_accounts]
        self.group = sagemaker.CfnModelPackageGroup(
            self,
            "ModelPackageGroup",
            # The API requires a name; derived from the stage config, so the operator CLI finds it offline.
            model_package_group_name=group_name,
            model_package_group_description="Text classifiers registered by the training pipeline",
            model_package_group_policy=self._group_policy(consumers),
        )
        # Where stateful resources are retained, registered versions and their approval history outlive the
        # stack. Elsewhere (dev) the named group goes with it, so the stack can be deployed again: a retained
        # group of the same name would fail the new one with AlreadyExists.
        self.group.apply_removal_policy(RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY)
        model_readers = [a for a in consumer_accounts if a not in metadata_only_accounts]
        if model_readers:
            self._share_artifacts(artifacts, model_readers, model_reader_path)
        self.events_topic = encrypted_topic(
            self, "PackageEventsTopic", key=notification_key, publisher="events.amazonaws.com"
        )
        self.state_change_rule = events.Rule(
            self,
            "PackageStateChangeRule",
            description=f"Approval and rejection of model packages in {group_name}",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=["SageMaker Model Package State Change"],
                detail={"ModelPackageGroupName": [group_name]},
            ),
            targets=[RuleToTopic(self.events_topic)],
        )

    def forward_decisions_to(self, account: str) -> events.Rule:
        """Send approvals and rejections to ``account``'s default event bus, where the delivery pipeline listens."""
        bus = events.EventBus.from_event_bus_arn(
            self, "DeliveryEventBus", arn("events", "event-bus/default", account=account)
        )
        return events.Rule(
            self,
            "ForwardDecisionsRule",
            description=f"Approvals and rejections in {self.group_name}, for the delivery pipeline's account",
            event_pattern=decision_pattern(self.group_name),
            targets=[targets.EventBus(bus)],
        )

    def grant_register(self, grantee: iam.IGrantable) -> None:
        self._grant(grantee, ["sagemaker:CreateModelPackage", "sagemaker:AddTags"])

    def grant_read(self, grantee: iam.IGrantable) -> None:
        self._grant(grantee, READ_PACKAGES)

    def _grant(self, grantee: iam.IGrantable, actions: list[str]) -> None:
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=actions, resources=[self.group_arn, self.packages_arn])
        )
        acknowledge(
            grantee.grant_principal,
            f"AwsSolutions-IAM5[Resource::{nag_arn('sagemaker', f'model-package/{self.group_name}/*')}]",
            "SageMaker numbers model package versions at registration, so the grant covers this one "
            "group's versions, not other groups.",
        )

    def _group_policy(self, consumers: list[iam.AccountPrincipal]) -> dict:
        """Consumer accounts may read packages; nobody, in any account, may remove or change what the evaluation
        wrote and a release relies on (issue 45, finding 5): with UpdateModelPackage, a principal who may approve
        could strip the probe set and baseline (prod would serve without their alarms) or re-point the digest."""
        kept = contract.evaluated_metadata_names()
        statements = [
            iam.PolicyStatement(
                sid="EvaluatedMetadataIsNotRemoved",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["sagemaker:UpdateModelPackage"],
                resources=[self.packages_arn],
                conditions={"ForAnyValue:StringEquals": {"sagemaker:CustomerMetadataPropertiesToRemove": list(kept)}},
            ),
            # IAM has no key listing the metadata an update sets: one statement per name, each denying its change.
            *(
                iam.PolicyStatement(
                    sid=f"{name}IsNotChanged",
                    effect=iam.Effect.DENY,
                    principals=[iam.AnyPrincipal()],
                    actions=["sagemaker:UpdateModelPackage"],
                    resources=[self.packages_arn],
                    conditions={"Null": {f"sagemaker:CustomerMetadataProperties/{name}": "false"}},
                )
                for name in kept
            ),
        ]
        if consumers:
            statements.insert(
                0,
                iam.PolicyStatement(
                    sid="ConsumerAccountsDescribePackages",
                    principals=consumers,
                    actions=READ_PACKAGES,
                    resources=[self.group_arn, self.packages_arn],
                ),
            )
        return iam.PolicyDocument(statements=statements).to_json()

    @staticmethod
    def _share_artifacts(artifacts: S3Location, accounts: list[str], path: str) -> None:
        """Training outputs (approved or not) to the consumers' roles under ``path`` only: the account as a
        principal, bounded by aws:PrincipalArn, since a bucket policy cannot name a role before it exists."""
        principals = [iam.AccountPrincipal(a) for a in accounts]
        readers = {
            "ArnLike": {"aws:PrincipalArn": [arn("iam", f"role{path}*", region="", account=a) for a in accounts]}
        }
        artifacts.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="ConsumerAccountsReadModels",
                principals=principals,
                actions=["s3:GetObject"],
                resources=[artifacts.objects_arn],
                conditions=readers,
            )
        )
        # Objects are SSE-KMS: consumers decrypt through S3 only.
        artifacts.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="ConsumerAccountsDecryptModelsViaS3",
                principals=principals,
                actions=["kms:Decrypt"],
                resources=["*"],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}, **readers},
            )
        )


def decision_pattern(group_name: str, account: str | None = None) -> events.EventPattern:
    """Approval or rejection of a package in ``group_name``: what releases a model."""
    return events.EventPattern(
        source=["aws.sagemaker"],
        detail_type=["SageMaker Model Package State Change"],
        account=[account] if account else None,
        detail={"ModelPackageGroupName": [group_name], "ModelApprovalStatus": ["Approved", "Rejected"]},
    )
