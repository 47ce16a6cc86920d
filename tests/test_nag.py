"""stacks.nag: Resource "*" is acknowledged from the final policy, and only for actions that must be granted so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, Aspects, Stack, Validations
from aws_cdk import aws_iam as iam
from cdk_nag import AwsSolutionsChecks

from stacks.nag import UNSCOPED, AcknowledgeUnscopedActions
from stacks.roles import UNSCOPED_ACTIONS


def unscoped_findings(tmp_path: Path, statement: iam.PolicyStatement) -> list[str]:
    """Synthesize one role holding ``statement`` under the project's aspect and cdk-nag, as app.py wires them, and
    return the unacknowledged Resource::* findings (synth fails when there are any)."""
    app = App(outdir=str(tmp_path))
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    stack = Stack(app, "Bare")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    role.add_to_policy(statement)
    Aspects.of(stack).add(AcknowledgeUnscopedActions(UNSCOPED_ACTIONS))
    try:
        app.synth()
    except RuntimeError as error:
        assert "ValidationFailed" in str(error)
    reports = [json.loads(path.read_text()) for path in tmp_path.rglob("validation-report.json")]
    return [
        violation["ruleName"]
        for report in reports
        for plugin in report["pluginReports"]
        for violation in plugin["violations"]
        if violation["ruleName"] == UNSCOPED
    ]


def put_metric_data(conditions: dict | None) -> iam.PolicyStatement:
    return iam.PolicyStatement(actions=["cloudwatch:PutMetricData"], resources=["*"], conditions=conditions)


def test_put_metric_data_on_every_resource_is_acknowledged_only_within_one_named_namespace(tmp_path):
    """Issue 45, finding 6: an unconditioned PutMetricData on "*" passed cdk-nag and checkov, and could publish any
    metric an alarm watches (ProbeAgreement=0 forcing rollbacks, LabelledAccuracy=0 starting a retrain)."""
    named = {"StringEquals": {"cloudwatch:namespace": "textclf-dev/Serving/QualityProbe"}}
    assert unscoped_findings(tmp_path / "named", put_metric_data(named)) == []
    assert unscoped_findings(tmp_path / "planted", put_metric_data(None)) == [UNSCOPED]


@pytest.mark.parametrize(
    "conditions",
    [
        {"StringLike": {"cloudwatch:namespace": "textclf-dev/*"}},
        {"StringEquals": {"cloudwatch:namespace": "textclf-*"}},
        {"StringEquals": {"aws:RequestedRegion": "us-east-1"}},
    ],
)
def test_a_namespace_pattern_or_another_condition_does_not_bound_it(tmp_path, conditions):
    assert unscoped_findings(tmp_path, put_metric_data(conditions)) == [UNSCOPED]


def test_an_action_authorized_on_no_resource_type_needs_no_condition(tmp_path):
    statement = iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"])
    assert unscoped_findings(tmp_path, statement) == []
