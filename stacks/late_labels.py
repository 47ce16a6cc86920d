"""Quality from late labels: a daily function that joins the labels users upload later (`textclf feedback upload`)
with the answers a realtime endpoint captured, and publishes how right they were (``functions/label_quality``).

Only where the endpoint captures data: serverless endpoints cannot. The role reads the capture and feedback
prefixes of the dataset bucket (under the stage's data key) and publishes only to the stage's namespace.
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
from stacks.monitor_settings import FEEDBACK_ID, FEEDBACK_LABEL, LABELLED
from stacks.storage import S3Location

FUNCTION_CODE = Path(__file__).resolve().parent / "functions" / "label_quality"
# Labels arrive days after the answers: the answers are judged once a day.
PERIOD = Duration.days(1)


class LateLabelQuality(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        capture: S3Location,
        feedback: S3Location,
        namespace: str,
        min_labelled: int,
        log_key: kms.IKey,
        failures: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        self.namespace = namespace
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Joins late labels with the endpoint's captured answers and publishes their quality",
        )
        capture.grant_read(role)
        feedback.grant_read(role)
        grant_put_metric_data(role, namespace)
        self.function = scheduled_function(
            self,
            role=role,
            log_key=log_key,
            failures=failures,
            every=PERIOD,
            event={
                "Bucket": capture.bucket.bucket_name,
                # SageMaker writes under <destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/.
                "CapturePrefix": f"{capture.prefix}{endpoint_name}/",
                "FeedbackPrefix": feedback.prefix,
                "Namespace": namespace,
                "MinLabelled": min_labelled,
                "Fields": {"id": FEEDBACK_ID, "label": FEEDBACK_LABEL},
                "Metrics": LABELLED,
            },
            description="Judges the captured answers against late labels once a day",
            handler="index.handler",
            code=lambda_.Code.from_asset(str(FUNCTION_CODE)),
            timeout=Duration.minutes(5),
            memory_size=512,
        )

    def metric(self, key: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=self.namespace, metric_name=LABELLED[key], statistic="Minimum", period=PERIOD
        )
