"""Pipeline alerts: the synthesized rules match SageMaker's failure events (moto's EventBridge matcher),
and the message names the execution and the failing step."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Environment, RemovalPolicy, Stack
from aws_cdk.assertions import Template
from moto.events.models import EventPattern

from stacks.arns import arn
from stacks.operations_key import OperationsKey
from stacks.pipeline_alerts import EXECUTION_STATUS, STEP_STATUS, PipelineAlerts

ACCOUNT, REGION = "111122223333", "us-east-1"
PIPELINE = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/textclf-dev-training"
EXECUTION = f"{PIPELINE}/execution/abc123"


@pytest.fixture(scope="module")
def rules() -> dict[str, dict]:
    stack = Stack(App(), "Bare", env=Environment(account=ACCOUNT, region=REGION))
    key = OperationsKey(stack, "OperationsKey", removal=RemovalPolicy.DESTROY)
    # As TrainingPipeline.arn writes them: pseudo parameters, which _resolve fills in as deployed.
    arns = [arn("sagemaker", f"pipeline/textclf-dev-{kind}") for kind in ("training", "distillation")]
    PipelineAlerts(stack, "PipelineAlerts", stage="dev", pipeline_arns=arns, key=key)
    found = Template.from_stack(stack).find_resources("AWS::Events::Rule")
    return {
        k.removeprefix("PipelineAlerts").rstrip("0123456789ABCDEF"): _resolve(v["Properties"]) for k, v in found.items()
    }


def _resolve(node):
    """The pattern as deployed in ACCOUNT/REGION: CDK writes the pipeline ARNs with pseudo parameters."""
    text = json.dumps(node)
    for ref, value in (("AWS::Partition", "aws"), ("AWS::Region", REGION), ("AWS::AccountId", ACCOUNT)):
        text = text.replace(json.dumps({"Ref": ref}), json.dumps(value))
    node = json.loads(text)

    def join(value):
        if isinstance(value, dict) and set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            return separator.join(join(p) for p in parts)
        if isinstance(value, dict):
            return {k: join(v) for k, v in value.items()}
        if isinstance(value, list):
            return [join(v) for v in value]
        return value

    return join(node)


def event(detail_type: str, **detail) -> str:
    return json.dumps(
        {
            "id": "7bf73129-1428-4cd3-a780-95db273d1602",
            "detail-type": detail_type,
            "source": "aws.sagemaker",
            "account": ACCOUNT,
            "time": "2026-11-24T07:00:00Z",
            "region": REGION,
            "resources": [EXECUTION],
            "detail": {"pipelineArn": PIPELINE, "pipelineExecutionArn": EXECUTION, **detail},
        }
    )


@pytest.fixture
def matches():
    """EventBridge's matching as moto routes events with it (moto has no TestEventPattern API)."""
    return lambda rule, sample: EventPattern.load(json.dumps(rule["EventPattern"])).matches_event(json.loads(sample))


@pytest.mark.parametrize(
    "status, alerts", [("Failed", True), ("Stopped", True), ("Succeeded", False), ("Executing", False)]
)
def test_a_failed_or_stopped_execution_alerts_and_a_finished_one_does_not(rules, matches, status, alerts):
    sample = event(EXECUTION_STATUS, currentPipelineExecutionStatus=status, previousPipelineExecutionStatus="Executing")
    assert matches(rules["ExecutionRule"], sample) is alerts


@pytest.mark.parametrize("status, alerts", [("Failed", True), ("Succeeded", False), ("Executing", False)])
def test_a_failed_step_alerts_with_its_name_and_reason(rules, matches, status, alerts):
    sample = event(STEP_STATUS, stepName="Evaluate", currentStepStatus=status, failureReason="ClientError: exit 1")
    assert matches(rules["StepRule"], sample) is alerts
    (target,) = rules["StepRule"]["Targets"]
    paths = target["InputTransformer"]["InputPathsMap"]
    assert set(paths.values()) == {"$.detail.stepName", "$.detail.pipelineExecutionArn", "$.detail.failureReason"}
    detail = json.loads(sample)["detail"]
    assert all(path.removeprefix("$.detail.") in detail for path in paths.values())
    assert target["InputTransformer"]["InputTemplate"].endswith('textclf status --stage dev"')


def test_another_stages_pipeline_does_not_alert_this_stage(rules, matches):
    other = event(EXECUTION_STATUS, currentPipelineExecutionStatus="Failed").replace("textclf-dev-", "textclf-prod-")
    assert matches(rules["ExecutionRule"], other) is False


def test_alerts_go_to_an_encrypted_topic(rules):
    for rule in rules.values():
        (target,) = rule["Targets"]
        assert target["Arn"]["Ref"].startswith("PipelineAlertsTopic")
