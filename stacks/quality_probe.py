"""The model-quality probe: a function that sends the release's probe set to the endpoint every minute and
publishes how many answers agree with the evaluation's (``functions/quality_probe``).

A model that answers fast and without errors, but wrongly, trips no error or latency alarm; this metric falls
instead, on every fleet the endpoint routes to, a new one during an update's bake included.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.function import grant_put_metric_data, scheduled_function

FUNCTION_CODE = Path(__file__).resolve().parent / "functions" / "quality_probe"
METRIC_NAME = "ProbeAgreement"
EVERY = Duration.minutes(1)
# Below this share of agreeing answers in a minute, the probe alarm counts the minute. A model that is wrong on every
# probe, at a canary of 25%, brings the share to about 0.75; two good models agree on these sure texts.
MIN_AGREEMENT = 0.95


class QualityProbe(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        endpoint_arn: str,
        probes: tuple[tuple[str, str], ...],
        namespace: str,
        log_key: kms.IKey,
        failures: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        self.namespace = namespace
        self.endpoint_name = endpoint_name
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Sends the probe set to this stage's endpoint and publishes the agreement metric",
        )
        role.add_to_policy(iam.PolicyStatement(actions=["sagemaker:InvokeEndpoint"], resources=[endpoint_arn]))
        grant_put_metric_data(role, namespace)
        self.function = scheduled_function(
            self,
            role=role,
            log_key=log_key,
            failures=failures,
            every=EVERY,
            event={
                "EndpointName": endpoint_name,
                "Namespace": namespace,
                "MetricName": METRIC_NAME,
                "Probes": [list(probe) for probe in probes],
            },
            description="Probes the endpoint with the release's probe set every minute",
            handler="index.handler",
            code=lambda_.Code.from_asset(str(FUNCTION_CODE)),
            timeout=Duration.seconds(50),
            memory_size=256,
        )

    def metric(self) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=self.namespace,
            metric_name=METRIC_NAME,
            dimensions_map={"EndpointName": self.endpoint_name},
            statistic="Minimum",
            period=Duration.minutes(1),
        )
