"""Serving construct: a serverless endpoint for one model package, names that change only with their inputs."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Environment, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Match, Template
from test_realtime import SETTINGS, request, resolved

from stacks.monitor_settings import MonitorBaseline
from stacks.operations_key import OperationsKey
from stacks.realtime import RealtimeSettings
from stacks.serving import WORKER_RESTARTS_METRIC, EndpointSettings, ModelContainer, Serving
from stacks.update_policy import UpdatePolicy

PACKAGE = "arn:aws:sagemaker:us-east-1:111122223333:model-package/textclf-dev/3"


def serve(
    package: str = PACKAGE, container: ModelContainer | None = None, retain: bool = False, **overrides
) -> tuple[Serving, Template]:
    stack = Stack(App(), "Bare", env=Environment(region="us-east-1"))
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["arn:aws:s3:::models/*"]))
    serving = Serving(
        stack,
        "Serving",
        container=container or ModelContainer.package(package),
        execution_role=role,
        name_prefix="textclf-dev",
        settings=EndpointSettings(**{**SETTINGS, **overrides}),
        operations_key=OperationsKey(stack, "OperationsKey", removal=RemovalPolicy.DESTROY),
        retain=retain,
    )
    return serving, Template.from_stack(stack)


def worker_restart_pattern() -> str:
    """The filter pattern of the metric filter behind the worker alarm, as synthesized."""
    _, template = serve()
    (metric_filter,) = template.find_resources(
        "AWS::Logs::MetricFilter",
        {"Properties": {"MetricTransformations": [Match.object_like({"MetricName": WORKER_RESTARTS_METRIC})]}},
    ).values()
    return metric_filter["Properties"]["FilterPattern"]


def signal_filter_pattern() -> str:
    """The pattern of the monitor's metric filters, as synthesized: one pattern for the three signal metrics."""
    _, template = serve()
    patterns = {
        f["Properties"]["FilterPattern"]
        for f in template.find_resources("AWS::Logs::MetricFilter").values()
        if f["Properties"]["MetricTransformations"][0]["MetricName"] != WORKER_RESTARTS_METRIC
    }
    (pattern,) = patterns
    return pattern


def released(digest: str = "ab" * 32) -> ModelContainer:
    return ModelContainer.released(
        package_arn=PACKAGE,
        sha256=digest,
        image="image:1",
        model_data_url="s3://own-bucket/released-models/copy.tar.gz",
        environment={"SAGEMAKER_PROGRAM": "inference.py"},
    )


def names(template: Template) -> tuple[str, str]:
    model = next(iter(template.find_resources("AWS::SageMaker::Model").values()))
    config = next(iter(template.find_resources("AWS::SageMaker::EndpointConfig").values()))
    return model["Properties"]["ModelName"], config["Properties"]["EndpointConfigName"]


def test_model_serves_the_package_with_one_worker_per_container():
    _, template = serve()
    template.has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "PrimaryContainer": {"ModelPackageName": PACKAGE, "Environment": {"SAGEMAKER_MODEL_SERVER_WORKERS": "1"}},
            "ExecutionRoleArn": {"Fn::GetAtt": [Match.string_like_regexp("^Role"), "Arn"]},
        },
    )


def test_a_released_model_runs_the_package_image_on_the_stage_copy_with_both_environments():
    _, template = serve(container=released())
    template.has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "PrimaryContainer": {
                "Image": "image:1",
                "ModelDataUrl": "s3://own-bucket/released-models/copy.tar.gz",
                "Environment": {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_MODEL_SERVER_WORKERS": "1"},
            }
        },
    )
    # Other bytes under the same package would be a different model: a new name, so CloudFormation replaces it.
    assert names(serve(container=released("cd" * 32))[1])[0] != names(template)[0]


def test_the_model_waits_for_its_role_policy_not_only_the_role():
    _, template = serve()
    model = next(iter(template.find_resources("AWS::SageMaker::Model").values()))
    assert any(name.startswith("RoleDefaultPolicy") for name in model.get("DependsOn", [])), model.get("DependsOn")


def test_endpoint_config_is_serverless_with_the_stage_settings():
    _, template = serve()
    template.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5},
                }
            ]
        },
    )
    variant = template.to_json()
    assert "ProvisionedConcurrency" not in json.dumps(variant)
    _, warm = serve(provisioned_concurrency=2)
    warm.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "ProductionVariants": [
                {
                    "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5, "ProvisionedConcurrency": 2},
                }
            ]
        },
    )
    template.has_resource_properties(
        "AWS::SageMaker::Endpoint",
        {
            "EndpointConfigName": {
                "Fn::GetAtt": [Match.string_like_regexp("^ServingEndpointConfig"), "EndpointConfigName"]
            }
        },
    )


def test_names_change_exactly_when_their_inputs_change():
    model, config = names(serve()[1])
    assert (model, config) == names(serve()[1])
    assert model.startswith("textclf-dev-") and len(model) <= 63
    new_package = names(serve(PACKAGE.replace("/3", "/4"))[1])
    assert new_package[0] != model and new_package[1] != config
    more_memory = names(serve(memory_mb=4096)[1])
    assert more_memory[0] == model and more_memory[1] != config
    int8 = names(serve(int8=True)[1])
    assert int8[0] != model
    assert names(serve(latency_p99_ms=900)[1]) == (model, config)


def test_int8_is_chosen_by_the_container_environment():
    _, template = serve(int8=True)
    template.has_resource_properties(
        "AWS::SageMaker::Model",
        {"PrimaryContainer": {"Environment": {"SAGEMAKER_MODEL_SERVER_WORKERS": "1", "TEXTCLF_QUANTIZE": "int8"}}},
    )


@pytest.mark.parametrize(
    "metric, statistic, threshold",
    [
        ("Invocation5XXErrors", {"Statistic": "Sum"}, 4),
        ("ModelLatency", {"ExtendedStatistic": "p99"}, 800_000),
        ("ServerlessConcurrentExecutionsUtilization", {"Statistic": "Maximum"}, 1),
    ],
)
def test_alarms_watch_the_endpoint_and_notify_the_topic(metric, statistic, threshold):
    _, template = serve()
    topic = Match.object_equals({"Ref": Match.string_like_regexp("^ServingAlarmTopic")})
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/SageMaker",
            "MetricName": metric,
            "Threshold": threshold,
            **statistic,
            "Dimensions": Match.array_with([{"Name": "VariantName", "Value": "AllTraffic"}]),
            "AlarmActions": [topic],
            "OKActions": [topic],
        },
    )


def test_saturation_alarm_counts_minutes_out_of_fifteen():
    _, template = serve(saturated_minutes=7)
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "ServerlessConcurrentExecutionsUtilization",
            "EvaluationPeriods": 15,
            "DatapointsToAlarm": 7,
            "Period": 60,
        },
    )


def test_alarm_topic_is_encrypted_tls_only_and_cloudwatch_may_use_its_key():
    _, template = serve()
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [Match.any_value(), "Arn"]}})
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": [
                    Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
                    # The topic policy replaces SNS's default: CloudWatch alarms need their own statement.
                    Match.object_like(
                        {
                            "Effect": "Allow",
                            "Action": "sns:Publish",
                            "Principal": {"Service": "cloudwatch.amazonaws.com"},
                            "Condition": Match.object_like({"ArnLike": {"aws:SourceArn": Match.any_value()}}),
                        }
                    ),
                ]
            }
        },
    )
    template.has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                            }
                        )
                    ]
                )
            }
        },
    )


def test_dashboard_graphs_the_endpoint():
    _, template = serve()
    dashboard = next(iter(template.find_resources("AWS::CloudWatch::Dashboard").values()))
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for metric in ("Invocations", "Invocation5XXErrors", "ModelLatency", "ModelSetupTime", "MemoryUtilization"):
        assert metric in body


def test_the_model_servers_heap_is_capped_for_the_smallest_serverless_memory():
    import re

    for container in (None, released()):
        _, template = serve(**({"container": container} if container else {}))
        (model,) = template.find_resources("AWS::SageMaker::Model").values()
        vmargs = model["Properties"]["PrimaryContainer"]["Environment"]["SAGEMAKER_MODEL_SERVER_VMARGS"]
        # Heap plus direct buffers (which default to the heap's size) must leave a 1 GB endpoint to the worker.
        (heap,) = re.findall(r"-Xmx(\d+)m\b", vmargs)
        assert 64 <= int(heap) <= 128, vmargs


@pytest.mark.parametrize("retain, policy", [(False, "Delete"), (True, "Retain")])
def test_the_endpoint_logs_to_a_group_the_stack_made_first_and_granted(retain, policy):
    _, template = serve(retain=retain)
    (_, endpoint), (group_id, group) = (
        next(iter(template.find_resources(kind).items()))
        for kind in ("AWS::SageMaker::Endpoint", "AWS::Logs::LogGroup")
    )
    # SageMaker logs to /aws/sagemaker/Endpoints/<endpoint name>: the name is the stage's, not generated.
    assert endpoint["Properties"]["EndpointName"] == "textclf-dev"
    key = group["Properties"].pop("KmsKeyId")
    assert group["Properties"] == {"LogGroupName": "/aws/sagemaker/Endpoints/textclf-dev", "RetentionInDays": 365}
    # The operations key, never the data key (tests/test_operations_key.py).
    assert key["Fn::GetAtt"][0].startswith("OperationsKey")
    assert group["DeletionPolicy"] == policy
    assert group_id in endpoint["DependsOn"]
    (grant,) = [
        statement
        for document in template.find_resources("AWS::IAM::Policy").values()
        for statement in document["Properties"]["PolicyDocument"]["Statement"]
        if "logs:PutLogEvents" in statement["Action"]
    ]
    assert grant["Resource"] == {"Fn::GetAtt": [group_id, "Arn"]}
    assert sorted(grant["Action"]) == [
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:DescribeLogStreams",
        "logs:PutLogEvents",
    ]


def test_worker_restarts_in_the_log_raise_an_alarm():
    _, template = serve()
    (group_id,) = template.find_resources("AWS::Logs::LogGroup")
    template.has_resource_properties(
        "AWS::Logs::MetricFilter",
        {
            "LogGroupName": {"Ref": group_id},
            "FilterPattern": '"Retry worker"',
            "MetricTransformations": [
                {
                    "MetricNamespace": "textclf-dev/Serving",
                    "MetricName": "ModelServerWorkerRestarts",
                    "MetricValue": "1",
                    "DefaultValue": 0,
                }
            ],
        },
    )
    topic = Match.object_equals({"Ref": Match.string_like_regexp("^ServingAlarmTopic")})
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "textclf-dev/Serving",
            "MetricName": "ModelServerWorkerRestarts",
            "Statistic": "Sum",
            "Period": 300,
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "AlarmActions": [topic],
        },
    )


CANARY = UpdatePolicy(kind="canary", traffic_percent=25, bake_minutes=5, final_bake_minutes=5)
LINEAR = UpdatePolicy(kind="linear", traffic_percent=20, bake_minutes=5, final_bake_minutes=10)
PROBES = (("positive", "a moving, funny film"), ("negative", "a dull, joyless mess"))
REALTIME = RealtimeSettings(
    instance_type="ml.c6i.xlarge", min_instances=2, max_instances=4, invocations_per_instance=600
)


@pytest.mark.parametrize("policy", [CANARY, LINEAR], ids=["canary", "linear"])
@pytest.mark.parametrize("realtime", [None, REALTIME], ids=["serverless", "realtime"])
def test_a_guarded_update_rolls_back_on_the_stages_own_alarms_each_able_to_fire_within_a_bake(policy, realtime):
    _, template = serve(update=policy, realtime=realtime, probes=PROBES)
    (endpoint,) = template.find_resources("AWS::SageMaker::Endpoint").values()
    deployment = endpoint["Properties"]["DeploymentConfig"]
    # What CloudFormation sends in UpdateEndpoint, valid for botocore's shape.
    request(
        "sagemaker",
        "UpdateEndpoint",
        {"EndpointName": "textclf-dev", "EndpointConfigName": "c", "DeploymentConfig": resolved(deployment)},
    )
    policy_ = deployment["BlueGreenUpdatePolicy"]
    routing = policy_["TrafficRoutingConfiguration"]
    size = {"Type": "CAPACITY_PERCENT", "Value": policy.traffic_percent}
    assert routing == {
        "Type": policy.kind.upper(),
        "WaitIntervalInSeconds": 300,
        **({"CanarySize": size} if policy.kind == "canary" else {"LinearStepSize": size}),
    }
    assert policy_["TerminationWaitInSeconds"] == policy.final_bake_minutes * 60
    # Longer than every wait, as the API asks, with time to start the new fleet.
    assert policy_["MaximumExecutionTimeoutInSeconds"] == (policy.planned_minutes + 30) * 60
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    named = [a["AlarmName"]["Ref"] for a in deployment["AutoRollbackConfiguration"]["Alarms"]]
    metrics = {alarms[name]["Properties"]["MetricName"] for name in named}
    assert metrics == {"Invocation5XXErrors", "ModelServerWorkerRestarts", "ModelLatency", "ProbeAgreement"}
    for name in named:
        properties = alarms[name]["Properties"]
        assert properties["Period"] * properties["EvaluationPeriods"] <= policy.bake_minutes * 60, name


def test_all_at_once_is_sagemakers_default_update_and_without_probes_there_is_no_probe():
    _, template = serve(
        update=UpdatePolicy(kind="all_at_once", traffic_percent=100, bake_minutes=0, final_bake_minutes=0)
    )
    (endpoint,) = template.find_resources("AWS::SageMaker::Endpoint").values()
    assert "DeploymentConfig" not in endpoint["Properties"]
    assert not template.find_resources("AWS::Events::Rule")
    assert "ProbeAgreement" not in json.dumps(template.to_json())


def test_the_probe_sends_the_release_probes_every_minute_and_alarms_when_answers_disagree():
    _, template = serve(update=CANARY, probes=PROBES)
    (rule,) = template.find_resources("AWS::Events::Rule").values()
    assert rule["Properties"]["ScheduleExpression"] == "rate(1 minute)"
    (target,) = rule["Properties"]["Targets"]
    assert json.loads(target["Input"]) == {
        "EndpointName": "textclf-dev",
        "Namespace": "textclf-dev/Serving/QualityProbe",
        "MetricName": "ProbeAgreement",
        "Probes": [list(p) for p in PROBES],
    }
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "textclf-dev/Serving/QualityProbe",
            "MetricName": "ProbeAgreement",
            "Dimensions": [{"Name": "EndpointName", "Value": "textclf-dev"}],
            "ComparisonOperator": "LessThanThreshold",
            "Threshold": 0.95,
            # Issue 45, finding 4: a probe that stopped publishing is a breach, not a quiet rollback guard.
            "TreatMissingData": "breaching",
        },
    )
    # The probe may invoke this endpoint and publish to its own namespace, nothing else.
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": "sagemaker:InvokeEndpoint",
                            "Effect": "Allow",
                            "Resource": {"Ref": Match.string_like_regexp("^ServingEndpoint")},
                        },
                        {
                            "Action": "cloudwatch:PutMetricData",
                            "Condition": {"StringEquals": {"cloudwatch:namespace": "textclf-dev/Serving/QualityProbe"}},
                            "Effect": "Allow",
                            "Resource": "*",
                        },
                    ]
                )
            }
        },
    )


def test_each_function_publishes_where_only_its_own_alarms_read():
    """Issue 45, finding 6: the probe and the drift monitor published to one namespace, so either could set the
    other's metrics (ProbeAgreement=0 rolls a good release back). Each role may now write one namespace, a
    different one, and every alarm on a metric a function publishes reads that function's namespace only."""
    baseline = MonitorBaseline(class_mix=(0.5, 0.5), length=(0.3, 0.6, 0.1, 0, 0, 0, 0, 0), mean_score=0.9)
    _, template = serve(update=CANARY, probes=PROBES, baseline=baseline)
    written = {}
    for logical_id, policy in template.find_resources("AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if "cloudwatch:PutMetricData" in json.dumps(statement["Action"]):
                written[logical_id] = statement["Condition"]["StringEquals"]["cloudwatch:namespace"]
    assert len(written) == len(set(written.values())) == 2, written
    assert "textclf-dev/Serving" not in written.values(), "the log metric filters' namespace is no function's"
    alarms = template.find_resources("AWS::CloudWatch::Alarm").values()
    read = {alarm["Properties"].get("Namespace") for alarm in alarms}
    assert set(written.values()) <= read, "each function's metrics are alarmed on"
