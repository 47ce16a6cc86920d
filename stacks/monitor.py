"""Monitoring what the endpoint meets: per-text signal metrics from its log, and drift from the served package's
baseline (``functions/drift_monitor``).

The handler logs one line per answered text (training/contract.py, ``signal_line``): the predicted class, its score
and a token-length bucket, never the text. Metric filters on the endpoint's log group count them, on serverless and
realtime endpoints alike; no data capture is needed. Where the served package carries a baseline (a release, from
its evaluation), a function compares each window of those counts with it and publishes three drift figures, and an
alarm on each notifies the stage's alert topic.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.function import grant_put_metric_data, scheduled_function
from stacks.monitor_settings import DRIFT, SIGNALS, MonitorBaseline, MonitorSettings
from training import contract

FUNCTION_CODE = Path(__file__).resolve().parent / "functions" / "drift_monitor"


class DriftMonitor(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        log_group: logs.ILogGroup,
        namespace: str,
        settings: MonitorSettings,
        baseline: MonitorBaseline | None,
        log_key: kms.IKey,
        failures: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        self.namespace, self.settings = namespace, settings
        pattern = logs.FilterPattern.literal(contract.signal_filter_pattern())
        predicted, score, length = (f"${field}" for field in contract.SIGNAL_FIELDS)
        # A filter with dimensions may have no default value (PutMetricFilter); a window without requests has no data.
        for construct_name, metric, value, dimensions in (
            ("PredictionsFilter", SIGNALS["predictions"], "1", {"Class": predicted}),
            ("TopScoreFilter", SIGNALS["score"], score, None),
            ("LengthFilter", SIGNALS["length"], "1", {"Bucket": length}),
        ):
            log_group.add_metric_filter(
                construct_name,
                filter_pattern=pattern,
                metric_namespace=namespace,
                metric_name=metric,
                metric_value=value,
                dimensions=dimensions,
            )
        self.function: lambda_.Function | None = None
        if baseline is not None:
            self.function = self._drift_function(baseline, log_key, failures)

    def _drift_function(self, baseline: MonitorBaseline, log_key: kms.IKey, failures: sns.ITopic) -> lambda_.Function:
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Reads the endpoint's signal metrics and publishes their drift from the served baseline",
        )
        # Metric queries are authorized on no resource (stacks/roles.py, UNSCOPED_ACTIONS).
        role.add_to_policy(iam.PolicyStatement(actions=["cloudwatch:GetMetricData"], resources=["*"]))
        grant_put_metric_data(role, self.namespace)
        window = self.settings.window_minutes
        return scheduled_function(
            self,
            role=role,
            log_key=log_key,
            failures=failures,
            every=Duration.minutes(window),
            event={
                # The window ends when the schedule fires, however late the function starts.
                "Time": events.EventField.time,
                "Namespace": self.namespace,
                "WindowMinutes": window,
                "MinRequests": self.settings.min_requests,
                "Signals": SIGNALS,
                "Drift": DRIFT,
                "Baseline": {
                    "class_mix": list(baseline.class_mix),
                    "length": list(baseline.length),
                    "mean_score": baseline.mean_score,
                },
            },
            description="Measures the endpoint's drift from its baseline once per monitoring window",
            handler="index.handler",
            code=lambda_.Code.from_asset(str(FUNCTION_CODE)),
            timeout=Duration.seconds(60),
            memory_size=256,
        )

    def drift_metric(self, key: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=self.namespace,
            metric_name=DRIFT[key],
            statistic="Maximum",
            period=Duration.minutes(self.settings.window_minutes),
        )

    def thresholds(self) -> dict[str, tuple[float, str]]:
        """Each drift figure's alarm threshold and what crossing it means."""
        s = self.settings
        return {
            "class_mix": (s.class_mix_max, "The predicted-class mix drifted from the served model's test set"),
            "confidence_drop": (s.confidence_drop_max, "The model is less sure of its answers than on its test set"),
            "length": (s.length_max, "The texts' token lengths drifted from the served model's test set"),
        }
