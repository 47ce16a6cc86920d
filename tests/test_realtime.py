"""Realtime serving: instances, target-tracking scaling and data capture, checked against botocore's API shapes.

The CloudFormation properties of these resources are the request SageMaker and Application Auto Scaling
receive; each resolved template resource is validated as that request before any assertion on its values.
"""

from __future__ import annotations

import botocore.session
from aws_cdk import App, Environment, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template
from botocore.validate import ParamValidator

from stacks.monitor_settings import MonitorSettings, QualityFloors
from stacks.operations_key import OperationsKey
from stacks.realtime import RealtimeSettings
from stacks.serving import EndpointSettings, ModelContainer, Serving
from stacks.storage import S3Location

PACKAGE = "arn:aws:sagemaker:us-east-1:111122223333:model-package/textclf-prod/3"
# What an intrinsic (Ref, Fn::GetAtt) stands for here: long enough for the ARN fields' minimum lengths.
RESOLVED = "arn:aws:cloudformation:us-east-1:111122223333:resolved"
REALTIME = RealtimeSettings(
    instance_type="ml.c6i.xlarge",
    min_instances=2,
    max_instances=6,
    invocations_per_instance=600,
    data_capture_percent=20,
)

MONITOR = MonitorSettings(
    window_minutes=60, min_requests=200, class_mix_max=0.03, confidence_drop_max=0.05, length_max=0.05
)
# The settings every serving test starts from (tests/test_serving.py overrides them one by one).
SETTINGS = dict(
    memory_mb=2048,
    max_concurrency=5,
    provisioned_concurrency=0,
    latency_p99_ms=800,
    errors_5xx=4,
    saturated_minutes=5,
    monitor=MONITOR,
)


def serve(
    realtime: RealtimeSettings = REALTIME, *, feedback: bool = False, quality_floors: QualityFloors | None = None
) -> Template:
    """A realtime endpoint capturing to a bucket's data-capture/; ``feedback``: late labels under feedback/ too."""
    stack = Stack(App(), "Bare", env=Environment(region="us-east-1"))
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    key = kms.Key(stack, "DataKey")
    bucket = s3.Bucket(stack, "Data")
    Serving(
        stack,
        "Serving",
        container=ModelContainer.package(PACKAGE),
        execution_role=role,
        name_prefix="textclf-prod",
        settings=EndpointSettings(**SETTINGS, realtime=realtime, quality_floors=quality_floors),
        operations_key=OperationsKey(stack, "OperationsKey", removal=RemovalPolicy.DESTROY),
        retain=False,
        data_capture=S3Location(bucket, "data-capture/", key),
        feedback=S3Location(bucket, "feedback/", key) if feedback else None,
        volume_key=key,
    )
    return Template.from_stack(stack)


def resolved(value):
    """Intrinsics as the strings CloudFormation puts in their place, so that the request can be validated."""
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) == "Fn::Join":
            separator, parts = value["Fn::Join"]
            return separator.join(str(resolved(part)) for part in parts)
        if len(value) == 1 and (next(iter(value)) == "Ref" or next(iter(value)).startswith("Fn::")):
            return RESOLVED
        return {k: resolved(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolved(v) for v in value]
    return value


def request(service: str, operation: str, parameters: dict) -> dict:
    shape = botocore.session.get_session().get_service_model(service).operation_model(operation).input_shape
    report = ParamValidator().validate(parameters, shape)
    assert not report.has_errors(), report.generate_report()
    return parameters


def only(template: Template, resource_type: str) -> dict:
    (resource,) = template.find_resources(resource_type).values()
    return resolved(resource["Properties"])


def test_the_endpoint_runs_on_instances_with_capture_and_an_encrypted_volume():
    config = request("sagemaker", "CreateEndpointConfig", only(serve(), "AWS::SageMaker::EndpointConfig"))
    (variant,) = config["ProductionVariants"]
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.c6i.xlarge", 2)
    assert "ServerlessConfig" not in variant
    assert config["KmsKeyId"] == RESOLVED
    capture = config["DataCaptureConfig"]
    assert capture["InitialSamplingPercentage"] == 20 and capture["EnableCapture"] is True
    assert capture["DestinationS3Uri"] == f"s3://{RESOLVED}/data-capture/"
    assert capture["KmsKeyId"] == RESOLVED
    assert [o["CaptureMode"] for o in capture["CaptureOptions"]] == ["Input", "Output"]
    assert capture["CaptureContentTypeHeader"]["JsonContentTypes"] == ["application/json", "application/jsonlines"]


def test_an_instance_with_local_nvme_takes_no_volume_key_and_zero_percent_captures_nothing():
    gpu = RealtimeSettings(
        instance_type="ml.g4dn.xlarge", min_instances=1, max_instances=2, invocations_per_instance=900
    )
    config = request("sagemaker", "CreateEndpointConfig", only(serve(gpu), "AWS::SageMaker::EndpointConfig"))
    assert "KmsKeyId" not in config and "DataCaptureConfig" not in config


def test_on_instances_the_model_is_network_isolated_with_the_dlc_default_workers():
    model = request("sagemaker", "CreateModel", only(serve(), "AWS::SageMaker::Model"))
    assert model["EnableNetworkIsolation"] is True
    assert "SAGEMAKER_MODEL_SERVER_WORKERS" not in model["PrimaryContainer"]["Environment"]


def test_scaling_tracks_invocations_per_instance_between_min_and_max():
    template = serve()
    target = request(
        "application-autoscaling",
        "RegisterScalableTarget",
        only(template, "AWS::ApplicationAutoScaling::ScalableTarget"),
    )
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 6)
    assert target["ResourceId"] == "endpoint/textclf-prod/variant/AllTraffic"
    assert "RoleARN" not in target  # the service-linked role: no role of ours may change endpoints
    policy = only(template, "AWS::ApplicationAutoScaling::ScalingPolicy")
    scaling_target = policy.pop("ScalingTargetId")
    assert scaling_target == RESOLVED
    request(
        "application-autoscaling",
        "PutScalingPolicy",
        {**policy, **{k: target[k] for k in ("ServiceNamespace", "ResourceId", "ScalableDimension")}},
    )
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == 600
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"
    # The target names the endpoint by name: it must exist before the target registers.
    (raw_target,) = template.find_resources("AWS::ApplicationAutoScaling::ScalableTarget").values()
    assert any(d.startswith("ServingEndpoint") for d in raw_target["DependsOn"])


def test_saturation_alarm_watches_invocations_per_instance_instead_of_serverless_concurrency():
    template = serve()
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    metrics = {props["Properties"].get("MetricName") for props in alarms.values()}
    assert "InvocationsPerInstance" in metrics
    assert "ServerlessConcurrentExecutionsUtilization" not in metrics
    (saturation,) = [
        a["Properties"] for a in alarms.values() if a["Properties"].get("MetricName") == "InvocationsPerInstance"
    ]
    assert (saturation["Threshold"], saturation["DatapointsToAlarm"], saturation["EvaluationPeriods"]) == (900, 5, 15)
    assert len(alarms) == 4  # 5xx, worker restarts, p99 latency, saturation: as serverless has
    body = str(template.find_resources("AWS::CloudWatch::Dashboard"))
    assert "InvocationsPerInstance" in body and "CPUUtilization" in body
