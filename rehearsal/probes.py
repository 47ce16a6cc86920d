"""The IAM and CloudWatch checks a flow makes where SageMaker acts on its own: the endpoint's role as the endpoint
starts (model data, image, capture writes, log stream), the smoke step's reach, and the worker alarm's filter."""

from __future__ import annotations

import json
import time
import uuid

from rehearsal import eventbridge
from rehearsal.cloud import Cloud
from rehearsal.cloudformation.model import Resource, Stack
from rehearsal.cloudwatch import LogMetricFilter
from rehearsal.deployed import model_container, served_model
from rehearsal.gateway import s3_requests
from rehearsal.iam import AccessDenied, Request
from rehearsal.report import RehearsalFailed, Report
from rehearsal.sagemaker.api import check_image_pull, check_log_delivery
from rehearsal.sagemaker.channels import split_uri
from rehearsal.sagemaker.local_endpoint import LocalEndpoint
from rehearsal.sns import publish_as_service
from training import contract


def check_model_role(cloud: Cloud, stack: Stack, logical_id: str) -> None:
    """The model role reads the model data and pulls the image, with the policies made before ``logical_id``."""
    model = served_model(stack)
    role = model.properties["ExecutionRoleArn"]
    container, data_url = model_container(cloud, stack, model)
    sources = {
        r for r in stack.exists_before(logical_id) if stack.template["Resources"][r]["Type"] == "AWS::IAM::Policy"
    }
    directory = cloud.directory
    bucket, key = split_uri(data_url)
    # The same mapping the gateway applies to a GET of that object (s3:GetObject, kms:Decrypt through S3).
    for request in s3_requests(role, "GET", f"/{bucket}/{key}", {}, {}, directory, stack.region):
        directory.check(request, only_sources=sources)
    check_image_pull(directory, role, container["Image"], only_sources=sources)
    endpoint = stack.template["Resources"][logical_id]["Properties"]["EndpointName"]
    (config,) = stack.of_type("AWS::SageMaker::EndpointConfig")
    variant = config.properties["ProductionVariants"][0]["VariantName"]
    _check_capture_writes(cloud, stack, config.properties.get("DataCaptureConfig"), (endpoint, variant), role, sources)
    # SageMaker logs to the endpoint's own group, one stream per variant and instance.
    check_log_delivery(
        directory,
        role,
        stack.region,
        contract.endpoint_log_group(endpoint),
        f"{variant}/{uuid.uuid4().hex[:16]}",
        only_sources=sources,
    )


def _check_capture_writes(
    cloud: Cloud, stack: Stack, capture: dict | None, served: tuple[str, str], role: str, sources: set[str]
) -> None:
    """A realtime endpoint capturing data writes it as the model's role, from its first request on:
    ``<destination><endpoint>/<variant>/<yyyy>/<mm>/<dd>/<hh>/<file>.jsonl``, encrypted with the key."""
    if not capture:
        return
    endpoint, variant = served
    bucket, prefix = split_uri(capture["DestinationS3Uri"])
    key = f"{prefix.rstrip('/')}/{endpoint}/{variant}/2026/11/24/10/capture.jsonl"
    for request in s3_requests(role, "PUT", f"/{bucket}/{key}", {}, {}, cloud.directory, stack.region):
        cloud.directory.check(request, only_sources=sources)


def check_smoke_access(cloud: Cloud, delivery: Stack, stack: Stack, stage: str) -> str:
    """The stage's smoke step assumes the stage's smoke-test role, which must be able to invoke the endpoint."""
    role_arn = stack.outputs["SmokeTestRoleArn"]
    project = _smoke_project(cloud, delivery, role_arn)
    step_role = project.properties["ServiceRole"]
    try:
        cloud.as_role("sts", step_role, stack.region).assume_role(
            RoleArn=role_arn, RoleSessionName="textclf-smoke-test"
        )
        endpoint = next(r for r in stack.resources.values() if r.type == "AWS::SageMaker::Endpoint")
        cloud.directory.check(Request(role_arn, "sagemaker:InvokeEndpoint", endpoint.physical_id))
    except Exception as error:
        raise RehearsalFailed(f"{stage} smoke test: {error}") from error
    return role_arn


def _smoke_project(cloud: Cloud, delivery: Stack, smoke_role_arn: str) -> Resource:
    """The smoke step whose role may assume this stage's smoke-test role (by its fixed path)."""
    path = smoke_role_arn.split(":role", 1)[1].rsplit("/", 1)[0] + "/"
    for resource in delivery.of_type("AWS::CodeBuild::Project"):
        if "delivery_steps.smoke" not in json.dumps(resource.properties.get("Source", {})):
            continue
        record = cloud.directory.role(resource.properties["ServiceRole"])
        if any(path in json.dumps(p.document) for p in record.policies):
            return resource
    raise RehearsalFailed(f"no smoke-test step of the delivery pipeline may assume {smoke_role_arn}")


def check_worker_alarm(cloud: Cloud, report: Report, stack: Stack, endpoint: LocalEndpoint) -> None:
    """Ship the endpoint's log to its deployed log group, as SageMaker does, and ask CloudWatch Logs (moto)
    which lines the deployed metric filter counts: none of the healthy run's, some once the workers die."""
    started = time.perf_counter()
    (endpoint_resource,) = stack.of_type("AWS::SageMaker::Endpoint")
    log_filter = LogMetricFilter(
        cloud.admin("logs", stack.account, stack.region),
        contract.endpoint_log_group(endpoint_resource.attributes["EndpointName"]),
        stream="AllTraffic/rehearsal",
        term=contract.WORKER_RESTART_LOG,
    )

    healthy_lines = endpoint.log_lines()
    healthy = log_filter.count(healthy_lines)
    killed = endpoint.kill_workers()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and contract.WORKER_RESTART_LOG not in "\n".join(endpoint.log_lines()):
        time.sleep(0.5)
    time.sleep(1)
    after = log_filter.count(endpoint.log_lines()[len(healthy_lines) :])
    detail = (
        f"filter {log_filter.pattern} counts {healthy} of {len(healthy_lines)} lines of the "
        f"healthy run and {after} once {len(killed)} worker processes were killed"
    )
    ok = healthy == 0 and after > 0
    report.status("worker alarm's metric filter", "ok" if ok else "FAILED", started, detail)
    if not ok:
        raise RehearsalFailed(f"{stack.name}: the worker alarm cannot tell a dead worker: {detail}")


def check_event_rules(cloud: Cloud, stacks: list[Stack], report: Report) -> None:
    """Every EventBridge rule fires on an event AWS documents for what was deployed, and reaches its targets."""
    started = report.step("EventBridge: each rule against the events AWS documents, delivered to its targets")
    try:
        lines = eventbridge.check_rules(cloud, stacks)
    except (eventbridge.RuleNeverFires, eventbridge.UndeliverableEvent) as error:
        report.status("event rules", "FAILED", started, str(error))
        raise RehearsalFailed(str(error)) from error
    report.status("event rules", "ok", started, f"{len(lines)} rules fire and deliver")
    for line in lines:
        report.log(f"        {line}")


def check_alarm_actions(cloud: Cloud, stack: Stack, report: Report) -> None:
    """Each alarm can publish to its topics, as cloudwatch.amazonaws.com for that alarm (aws:SourceAccount and
    aws:SourceArn, which CloudWatch sets when it acts on an alarm)."""
    started = report.step("CloudWatch alarms: each alarm's actions, published as CloudWatch")
    count = 0
    for alarm in stack.of_type("AWS::CloudWatch::Alarm"):
        source = (("aws:SourceAccount", stack.account), ("aws:SourceArn", alarm.attributes["Arn"]))
        for topic in sorted({*alarm.properties.get("AlarmActions", []), *alarm.properties.get("OKActions", [])}):
            try:
                publish_as_service(cloud.directory, stack, topic, "cloudwatch.amazonaws.com", source)
            except AccessDenied as error:
                detail = f"{alarm.logical_id} cannot notify {topic}: {error}"
                report.status("alarm actions", "FAILED", started, detail)
                raise RehearsalFailed(f"{stack.name}: alarm {detail}") from error
            count += 1
    report.status("alarm actions", "ok", started, f"{count} alarm action(s) can publish")
