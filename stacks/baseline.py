"""RegressionBaseline: the Lambda function behind the pipelines' Baseline step (training/baseline.py).

It asks the registry for the latest approved model's accuracy, the only AWS call the quality gate
makes. Keeping it out of the evaluation job lets that job, which reads datasets and models, run
network-isolated. The function reads the registry and the approved model's evaluation.json, and
nothing else: no dataset, no model, no write.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks.function import project_function
from stacks.registry import ModelRegistry
from stacks.storage import S3Location

TRAINING = Path(__file__).resolve().parent.parent / "training"
# The function package: the handler and the two modules it imports, nothing else of training/.
MODULES = ("baseline.py", "contract.py", "model_registry.py")


class RegressionBaseline(Construct):
    """A function the pipeline role may invoke; ``function_arn`` goes into the pipeline definitions."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        registry: ModelRegistry,
        evaluations: S3Location,
        log_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Reads the registry's latest approved model and its evaluation, for the quality gate",
        )
        registry.grant_read(role)
        evaluations.grant_read(role)
        self.function = project_function(
            self,
            role=role,
            log_key=log_key,
            handler="baseline.handler",
            code=lambda_.Code.from_asset(str(TRAINING), exclude=["*", *(f"!{module}" for module in MODULES)]),
            description="The quality gate's regression baseline: latest approved accuracy minus the margin",
            timeout=Duration.minutes(1),
            memory_size=256,
        )
        self.function_arn = self.function.function_arn

    def grant_invoke(self, grantee: iam.IGrantable) -> None:
        """Exactly this function (Function.grant_invoke adds every version and alias, ``<arn>:*``)."""
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self.function_arn])
        )
