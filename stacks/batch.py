"""Batch scoring: the served model as a SageMaker model of its own, for batch transform jobs (`textclf batch`).

Scoring 25,000 texts one request at a time through an endpoint takes many minutes and keeps the endpoint busy;
a transform job splits the input files by line, sends the handler mini-batches, and writes one output line per
input line. The job runs as the model's role: a role of its own that may read the model, the batch input prefix
and write the batch output prefix, nothing else; the container runs without network access.
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from stacks.batch_request import batch_model_environment
from stacks.serving import ModelContainer, digest


class BatchScoring(Construct):
    """``model``: what `textclf batch` names in CreateTransformJob; run as ``role``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        container: ModelContainer,
        role: iam.IRole,
        name_prefix: str,
        int8: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        environment = batch_model_environment(int8=int8)
        self.model = sagemaker.CfnModel(
            self,
            "Model",
            model_name=f"{name_prefix}-batch-{digest(container.identity, environment)}",
            execution_role_arn=role.role_arn,
            primary_container=container.definition(environment),
            enable_network_isolation=True,
        )
        # A transform job starts its container as this role at once: wait for its policy, not only the role.
        self.model.node.add_dependency(role)
