"""EventBridge: every deployed rule matched against the events AWS documents, and each match delivered to its
targets as EventBridge delivers it.

An event is a documented sample (rehearsal/data/event_samples.json, each with the page it is copied from) in
which only what names the occurrence is filled in: account, region, resources and the detail fields passed as
``detail``. A field the sample lacks is refused, so the rehearsal cannot invent an event's shape: a rule that
filters on a detail-type or a field AWS does not send matches nothing, and fails. Rules are matched by moto's
EventPattern, the matcher of moto's EventBridge emulator.

Delivery: an SNS target is published to as ``events.amazonaws.com`` for the rule (``aws:SourceArn``,
rehearsal.sns); a target with a RoleArn is invoked as that role.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from moto.events.models import EventPattern

from rehearsal.cloud import Cloud
from rehearsal.cloudformation.model import Resource, Stack
from rehearsal.iam import AccessDenied, Directory, Request, account_of
from rehearsal.service_model import service_model
from rehearsal.sns import publish_as_service

SAMPLES = json.loads((Path(__file__).parent / "data" / "event_samples.json").read_text())["events"]
EVENTS = "events.amazonaws.com"
# What a rule's target with a RoleArn is invoked with, by the target's service.
TARGET_ACTIONS = {
    "sagemaker": "sagemaker:StartPipelineExecution",
    "codepipeline": "codepipeline:StartPipelineExecution",
}


class UndeliverableEvent(RuntimeError):
    """A rule matched, and EventBridge could not deliver to one of its targets."""


class RuleNeverFires(RuntimeError):
    """No event AWS sends for the stack's resources matches the rule."""


@dataclass(frozen=True)
class Occurrence:
    """Something that happens to a deployed resource, and the event AWS sends for it."""

    what: str
    event: dict


def documented_event(detail_type: str, *, account: str, region: str, resources: list[str], detail: dict) -> dict:
    """The documented sample of ``detail_type`` with these values; ``detail`` keys are dotted paths in it."""
    if detail_type not in SAMPLES:
        raise KeyError(f"no documented sample of {detail_type!r} (rehearsal/data/event_samples.json)")
    event = copy.deepcopy(SAMPLES[detail_type]["event"])
    event.update(account=account, region=region, resources=resources)
    for path, value in detail.items():
        *parents, last = path.split(".")
        node = event["detail"]
        for part in parents:
            node = node[part]
        if last not in node:
            raise KeyError(f"the documented {detail_type!r} event has no detail.{path}")
        node[last] = value
    return event


def scheduled_event(stack: Stack, rule: Resource, time: datetime) -> dict:
    """What a schedule rule sends when it fires at ``time`` (EventBridge writes it in ISO 8601, UTC, to the second)."""
    event = documented_event(
        "Scheduled Event", account=stack.account, region=stack.region, resources=[rule.attributes["Arn"]], detail={}
    )
    return {**event, "time": time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.-]+)>")


def target_input(target: dict, event: dict) -> Any:
    """What EventBridge hands ``target`` for ``event`` (the EventBridge User Guide, "Transforming target input"): a
    constant Input, or an InputTransformer's template with each <name> replaced by its path's value: as a JSON value
    outside a JSON string, as the bare text inside one; otherwise the event itself."""
    if "Input" in target:
        return json.loads(target["Input"])
    transformer = target.get("InputTransformer")
    if transformer is None:
        return event
    values = {name: _json_path(event, path) for name, path in transformer.get("InputPathsMap", {}).items()}
    template, out, position = transformer["InputTemplate"], [], 0
    for found in _PLACEHOLDER.finditer(template):
        if found[1] not in values:
            continue
        out.append(template[position : found.start()])
        inside_string = _in_json_string(template, found.start())
        value = values[found[1]]
        out.append(json.dumps(value)[1:-1] if inside_string and isinstance(value, str) else json.dumps(value))
        position = found.end()
    out.append(template[position:])
    return json.loads("".join(out))


def _json_path(event: dict, path: str) -> Any:
    node: Any = event
    for part in path.removeprefix("$.").split("."):
        node = node[part]
    return node


def _in_json_string(text: str, end: int) -> bool:
    quotes, escaped = 0, False
    for char in text[:end]:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quotes += 1
    return quotes % 2 == 1


def matches(rule: Resource, event: dict) -> bool:
    pattern = rule.properties.get("EventPattern")
    if not pattern or rule.properties.get("State", "ENABLED") != "ENABLED":
        return False
    return EventPattern.load(json.dumps(pattern)).matches_event(cast(Any, event))


def deliver(directory: Directory, stack: Stack, rule: Resource, event: dict) -> list[str]:
    """Each target of ``rule``, reached as EventBridge reaches it; returns what was reached."""
    reached = []
    for target in rule.properties.get("Targets", []):
        arn = target["Arn"]
        try:
            if arn.startswith("arn:aws:sns:"):
                # EventBridge publishes as itself on behalf of the rule (EventBridge User Guide, "Amazon SNS
                # permissions": the topic policy may condition on aws:SourceArn, the rule's ARN).
                source = (("aws:SourceArn", rule.attributes["Arn"]), ("aws:SourceAccount", stack.account))
                publish_as_service(directory, stack, arn, EVENTS, source)
            elif target.get("RoleArn"):
                service = arn.split(":")[2]
                action = TARGET_ACTIONS.get(service, f"{service}:?")
                directory.check(Request(target["RoleArn"], action, arn, account_of(arn)))
        except AccessDenied as error:
            raise UndeliverableEvent(
                f"rule {rule.logical_id} matched {event['detail-type']!r} and cannot deliver it to {arn}: {error}"
            ) from error
        reached.append(arn)
    return reached


def occurrences(cloud: Cloud, stack: Stack) -> list[Occurrence]:
    """What can happen to the stack's resources, each as the event AWS sends: every status botocore's model lists
    for its pipelines' executions and steps, its packages' approval and its alarms' state, and every object now in a
    bucket that publishes to EventBridge (the S3 User Guide: only a bucket with EventBridge enabled sends events)."""
    enum = service_model("sagemaker").shape_for
    where = {"account": stack.account, "region": stack.region}
    found = []
    for pipeline in stack.of_type("AWS::SageMaker::Pipeline"):
        arn, execution = pipeline.attributes["Arn"], f"{pipeline.attributes['Arn']}/execution/rehearsal0"
        scope = {**where, "resources": [arn, execution]}
        ids = {"pipelineArn": arn, "pipelineExecutionArn": execution}
        for status in enum("PipelineExecutionStatus").enum:
            detail = {**ids, "currentPipelineExecutionStatus": status}
            kind = "SageMaker Model Building Pipeline Execution Status Change"
            found.append(Occurrence(f"{arn} {status}", documented_event(kind, **scope, detail=detail)))
        for status in enum("StepStatus").enum:
            detail = {**ids, "currentStepStatus": status}
            kind = "SageMaker Model Building Pipeline Execution Step Status Change"
            found.append(Occurrence(f"{arn} step {status}", documented_event(kind, **scope, detail=detail)))
    for group in stack.of_type("AWS::SageMaker::ModelPackageGroup"):
        name = group.attributes["ModelPackageGroupName"]
        package = group.physical_id.replace(":model-package-group/", ":model-package/") + "/1"
        for status in enum("ModelApprovalStatus").enum:
            detail = {"ModelPackageGroupName": name, "ModelPackageArn": package, "ModelApprovalStatus": status}
            kind = "SageMaker Model Package State Change"
            found.append(
                Occurrence(f"{package} {status}", documented_event(kind, **where, resources=[package], detail=detail))
            )
    for alarm in stack.of_type("AWS::CloudWatch::Alarm"):
        for state in service_model("cloudwatch").shape_for("StateValue").enum:
            detail = {"alarmName": alarm.physical_id, "state.value": state}
            kind = "CloudWatch Alarm State Change"
            event = documented_event(kind, **where, resources=[alarm.attributes["Arn"]], detail=detail)
            found.append(Occurrence(f"{alarm.attributes['Arn']} {state}", event))
    found += _object_events(cloud, stack)
    return found


def _object_events(cloud: Cloud, stack: Stack) -> list[Occurrence]:
    s3 = cloud.admin("s3", stack.account, stack.region)
    found = []
    for bucket in stack.of_type("AWS::S3::Bucket"):
        notifications = bucket.properties.get("NotificationConfiguration") or {}
        if not (notifications.get("EventBridgeConfiguration") or {}).get("EventBridgeEnabled"):
            continue
        name = bucket.physical_id
        for item in s3.list_objects_v2(Bucket=name, MaxKeys=1000).get("Contents", []):
            detail = {"bucket.name": name, "object.key": item["Key"], "object.size": item["Size"]}
            event = documented_event(
                "Object Created",
                account=stack.account,
                region=stack.region,
                resources=[f"arn:aws:s3:::{name}"],
                detail=detail,
            )
            found.append(Occurrence(f"s3://{name}/{item['Key']} created", event))
    return found


def check_rules(cloud: Cloud, stacks: list[Stack]) -> list[str]:
    """Each rule of ``stacks`` fires on some occurrence of theirs and delivers it; one line per rule."""
    happening = [o for stack in stacks for o in occurrences(cloud, stack)]
    lines = []
    for stack in stacks:
        for rule in stack.of_type("AWS::Events::Rule"):
            if not rule.properties.get("EventPattern"):
                continue
            fired = [o for o in happening if matches(rule, o.event)]
            if not fired:
                raise RuleNeverFires(
                    f"{stack.name}/{rule.logical_id} (AWS::Events::Rule) matches none of the {len(happening)} events "
                    f"AWS sends for what was deployed (documented samples of {sorted(SAMPLES)}). Fix: filter on a "
                    "detail-type and fields the service's documented event has (rehearsal/data/event_samples.json)."
                )
            reached = deliver(cloud.directory, stack, rule, fired[0].event)
            lines.append(f"{rule.logical_id}: {len(fired)} event(s), e.g. {fired[0].what} -> {', '.join(reached)}")
    return lines
