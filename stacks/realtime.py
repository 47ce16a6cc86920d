"""Realtime serving: instances behind the endpoint, scaled by Application Auto Scaling, with data capture.

Serverless suits spiky traffic; steady traffic is cheaper and faster on instances (a GPU optional), and
only instance-backed endpoints can capture requests and responses for monitoring.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_applicationautoscaling as autoscaling
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from stacks.storage import S3Location
from training import contract

# Scale out fast when traffic rises, in slowly when it falls: an instance takes minutes to start.
SCALE_OUT_COOLDOWN_SECONDS = 60
SCALE_IN_COOLDOWN_SECONDS = 600


@dataclass(frozen=True, kw_only=True)
class RealtimeSettings:
    instance_type: str
    min_instances: int
    max_instances: int
    invocations_per_instance: int
    data_capture_percent: int = 0


def production_variant(
    variant: str, model_name: str, settings: RealtimeSettings
) -> sagemaker.CfnEndpointConfig.ProductionVariantProperty:
    return sagemaker.CfnEndpointConfig.ProductionVariantProperty(
        variant_name=variant,
        model_name=model_name,
        instance_type=settings.instance_type,
        initial_instance_count=settings.min_instances,
        initial_variant_weight=1,
    )


def data_capture(
    settings: RealtimeSettings, location: S3Location
) -> sagemaker.CfnEndpointConfig.DataCaptureConfigProperty:
    """Requests and responses, sampled, under the stage's data-capture prefix, encrypted with the data key.
    JSON bodies are stored as text, not base64, so monitoring jobs read them as they are."""
    return sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
        enable_capture=True,
        initial_sampling_percentage=settings.data_capture_percent,
        destination_s3_uri=location.uri,
        kms_key_id=location.key.key_arn,
        capture_options=[
            sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode=mode) for mode in ("Input", "Output")
        ],
        capture_content_type_header=sagemaker.CfnEndpointConfig.CaptureContentTypeHeaderProperty(
            json_content_types=[contract.JSON, contract.JSONLINES], csv_content_types=[contract.CSV]
        ),
    )


class EndpointScaling(Construct):
    """Target tracking on invocations per instance, between the stage's minimum and maximum instances.

    No role is given: Application Auto Scaling uses its service-linked role for SageMaker, which it creates
    on first use, so the stack holds no role that may change endpoints.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, endpoint_name: str, variant: str, settings: RealtimeSettings
    ) -> None:
        super().__init__(scope, construct_id)
        self.target = autoscaling.CfnScalableTarget(
            self,
            "Target",
            service_namespace="sagemaker",
            resource_id=f"endpoint/{endpoint_name}/variant/{variant}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=settings.min_instances,
            max_capacity=settings.max_instances,
        )
        self.policy = autoscaling.CfnScalingPolicy(
            self,
            "InvocationsPerInstance",
            policy_name="invocations-per-instance",
            policy_type="TargetTrackingScaling",
            scaling_target_id=self.target.ref,
            target_tracking_scaling_policy_configuration=autoscaling.CfnScalingPolicy.TargetTrackingScalingPolicyConfigurationProperty(
                target_value=settings.invocations_per_instance,
                predefined_metric_specification=autoscaling.CfnScalingPolicy.PredefinedMetricSpecificationProperty(
                    predefined_metric_type="SageMakerVariantInvocationsPerInstance"
                ),
                scale_in_cooldown=SCALE_IN_COOLDOWN_SECONDS,
                scale_out_cooldown=SCALE_OUT_COOLDOWN_SECONDS,
            ),
        )
