"""The whole app: every stage synthesizes offline, passes cdk-nag and cfn-lint, and stays stable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_iam as iam
from cfnlint.api import lint_file
from test_realtime import request, resolved

import app as cdk_app
from cli.synth_report import checkov, templates
from stacks.nag import as_list
from stacks.project import CDK_CLI, ROOT

# Replacing any of these loses data: a refactor that changes one must fail here first.
STATEFUL_LOGICAL_IDS = {
    "StorageDataKeyE15BA43B": "AWS::KMS::Key",
    "StorageAccessLogBucket76E80A12": "AWS::S3::Bucket",
    "StorageDatasetBucketF0B8C506": "AWS::S3::Bucket",
    "StorageModelArtifactBucketF760C4CF": "AWS::S3::Bucket",
    "StorageCheckpointBucket217D3CE2": "AWS::S3::Bucket",
    # Retained endpoint log groups are encrypted under it.
    "OperationsKeyC8E359A5": "AWS::KMS::Key",
}
# Retained with the stage's data (staging, prod): registered versions and their approval history.
REGISTRY_LOGICAL_IDS = {"RegistryModelPackageGroup27C6820F": "AWS::SageMaker::ModelPackageGroup"}


def _templates(outdir: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(outdir.glob("assembly-*/*.template.json"))}


def _run_app(context: dict) -> subprocess.CompletedProcess:
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(ROOT / "cdk.out.test")}
    return subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_every_stage_synthesizes_with_zero_unsuppressed_nag_findings(synthesized):
    _, stages, _, outdir = synthesized
    assert [s.stage_name for s in stages] == ["Dev", "Staging", "Prod"]
    report = json.loads((outdir / "validation-report.json").read_text())
    assert report["pluginReports"] == []
    assert sorted(_templates(outdir)) == ["assembly-Dev", "assembly-Prod", "assembly-Staging"]


def plant_a_resource_wildcard_in_every_role(app: App, tmp_path: Path, *, in_stages: bool = True) -> set[str]:
    """Give every role of ``app`` s3:GetObject on "*" (an action AWS authorizes on objects, so never needed on
    "*"), synthesize, and return the roles the cdk-nag gate does not report for it; the gate must fail synth.

    ``in_stages=False``: only roles outside any Stage. CDK Pipelines synthesizes its stages when it builds the
    pipeline, so a statement added to a stage's role afterwards never reaches a template."""
    from aws_cdk import Stage

    roles = [
        node
        for node in app.node.find_all()
        if isinstance(node, iam.Role) and (in_stages or not any(Stage.is_stage(s) for s in node.node.scopes[1:]))
    ]
    assert len(roles) > 3
    for role in roles:
        role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["*"]))
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    reports = [json.loads(path.read_text()) for path in tmp_path.rglob("validation-report.json")]
    reported = {
        construct["constructPath"].removesuffix("/DefaultPolicy/Resource")
        for report in reports
        for plugin in report["pluginReports"]
        for violation in plugin["violations"]
        if violation["ruleName"] == "AwsSolutions-IAM5[Resource::*]"
        for construct in violation["violatingConstructs"]
    }
    return {role.node.path for role in roles} - reported


def policies_with_the_planted_wildcard(outdir: Path) -> set[str]:
    return {
        f"{path.name}:{logical_id}"
        for path in templates(outdir)
        for logical_id, resource in json.loads(path.read_text())["Resources"].items()
        if resource["Type"] == "AWS::IAM::Policy"
        and any(
            "s3:GetObject" in as_list(statement["Action"]) and "*" in as_list(statement.get("Resource"))
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]
        )
    }


def failing_checkov(outdir: Path) -> set[str]:
    """The IAM policies checkov fails; each planted statement must be one (CKV_AWS_108, data exfiltration)."""
    scan = checkov(templates(outdir))
    return {f"{Path(f.template).name}:{f.resource.split('.')[1]}" for f in scan.failed if "IAM::Policy" in f.resource}


def test_a_resource_wildcard_planted_in_any_role_fails_synth(cdk_context, tmp_path):
    """Resource::* is acknowledged from the final policy (stacks.nag.AcknowledgeUnscopedActions), never on a
    role up front: an acknowledgment there hid every later wildcard of that role."""
    app = App(context={**cdk_context, "stage": "all"}, outdir=str(tmp_path))
    cdk_app.build_app(app)
    assert plant_a_resource_wildcard_in_every_role(app, tmp_path) == set()
    assert policies_with_the_planted_wildcard(tmp_path) == failing_checkov(tmp_path) != set()


def test_only_actions_authorized_on_no_resource_type_count_as_wildcard_only():
    from stacks.iam_data import wildcard_only

    assert wildcard_only("ecr:GetAuthorizationToken") and wildcard_only("sts:GetCallerIdentity")
    # PutMetricData gained a resource type (CloudWatch datasets): stacks/roles.py explains why it stays on "*".
    assert not wildcard_only("cloudwatch:PutMetricData")
    assert not wildcard_only("s3:GetObject") and not wildcard_only("s3:Get*") and not wildcard_only("nosuch:Thing")


def test_the_data_key_names_no_service_and_the_operations_key_no_data(synthesized):
    """Finding 4 of issue 16: services that publish and log use the operations key, never the data key."""
    _, _, _, outdir = synthesized
    for name, template in _templates(outdir).items():
        keys = {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::KMS::Key"}
        assert sorted(k[:-8] for k in keys) == ["OperationsKey", "StorageDataKey"], name
        data = next(r for k, r in keys.items() if k.startswith("StorageDataKey"))
        assert not [s for s in data["Properties"]["KeyPolicy"]["Statement"] if "Service" in s["Principal"]], name
        operations = next(k for k in keys if k.startswith("OperationsKey"))
        users = json.dumps(
            [r for r in template["Resources"].values() if operations in json.dumps(r) and r["Type"] != "AWS::KMS::Key"]
        )
        assert '"AWS::S3::Bucket"' not in users and "VolumeKmsKeyId" not in users, name


# Checks that cannot pass for a resource of these types, by design; each allowance (stacks.checkov.allow) says why.
CHECKOV_ALLOWED = {
    ("CKV_AWS_18", "AWS::S3::Bucket"),  # the access-log bucket does not log itself
    ("CKV_AWS_370", "AWS::SageMaker::Model"),  # serverless endpoints cannot be network-isolated
    ("CKV_AWS_115", "AWS::Lambda::Function"),  # reserved concurrency
    ("CKV_AWS_116", "AWS::Lambda::Function"),  # dead-letter queue
    ("CKV_AWS_117", "AWS::Lambda::Function"),  # VPC
}


def test_checkov_fails_nothing_beyond_the_allow_list_each_with_its_reason(synthesized):
    _, _, _, outdir = synthesized
    scan = checkov(templates(outdir))
    assert scan.failed == [], "\n".join(f"{f.check_id} {f.resource} {f.template}" for f in scan.failed)
    assert {(f.check_id, f.resource.split(".")[0]) for f in scan.allowed} <= CHECKOV_ALLOWED
    assert all(len(f.reason) >= 20 for f in scan.allowed), [f for f in scan.allowed if len(f.reason) < 20]
    assert scan.passed > 300


def test_cfn_lint_finds_no_errors_in_any_template(synthesized):
    _, _, _, outdir = synthesized
    templates = sorted(outdir.glob("assembly-*/*.template.json"))
    assert len(templates) == 3
    for template in templates:
        errors = [m for m in lint_file(template) if m.rule.id.startswith("E")]
        assert errors == [], f"{template.name}: {errors}"


@pytest.fixture(scope="module")
def realtime_synthesized(serving_context, tmp_path_factory) -> Path:
    """Every stage served on instances with scaling and 20% data capture, through app.py, cdk-nag included."""
    stages = json.loads(json.dumps(serving_context["stages"]))
    for settings in stages.values():
        settings.update(serving_mode="realtime", data_capture_percent=20)
    stages["prod"]["realtime_instance_type"] = "ml.g4dn.xlarge"  # local NVMe: no volume key
    outdir = tmp_path_factory.mktemp("cdk.out.realtime")
    app = App(context={**serving_context, "stages": stages, "stage": "all"}, outdir=str(outdir))
    cdk_app.build_app(app)
    app.synth()
    return outdir


def test_every_stage_synthesizes_realtime_clean_under_nag_cfn_lint_and_checkov(realtime_synthesized):
    outdir = realtime_synthesized
    assert json.loads((outdir / "validation-report.json").read_text())["pluginReports"] == []
    found = _templates(outdir)
    for name, template in found.items():
        types = {resource["Type"] for resource in template["Resources"].values()}
        assert {"AWS::ApplicationAutoScaling::ScalableTarget", "AWS::ApplicationAutoScaling::ScalingPolicy"} <= types
        # SageMaker writes the captured data as the model's role: it, and no other role, may write there.
        writers = {
            role["Ref"]
            for resource in template["Resources"].values()
            if resource["Type"] == "AWS::IAM::Policy"
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]
            if "s3:PutObject" in as_list(statement["Action"]) and "/data-capture/*" in json.dumps(statement["Resource"])
            for role in resource["Properties"]["Roles"]
        }
        assert len(writers) == 1 and next(iter(writers)).startswith("RolesModelExecution"), (name, writers)
    for template in sorted(outdir.glob("assembly-*/*.template.json")):
        errors = [m for m in lint_file(template) if m.rule.id.startswith("E")]
        assert errors == [], f"{template.name}: {errors}"
    scan = checkov(templates(outdir))
    assert scan.failed == [], "\n".join(f"{f.check_id} {f.resource} {f.template}" for f in scan.failed)
    assert {(f.check_id, f.resource.split(".")[0]) for f in scan.allowed} <= CHECKOV_ALLOWED


def test_stateful_logical_ids_are_pinned(synthesized):
    _, _, _, outdir = synthesized
    for name, template in _templates(outdir).items():
        stateful = {
            k: v["Type"]
            for k, v in template["Resources"].items()
            if v["Type"] in ("AWS::S3::Bucket", "AWS::KMS::Key", "AWS::SageMaker::ModelPackageGroup")
        }
        assert stateful == {**STATEFUL_LOGICAL_IDS, **REGISTRY_LOGICAL_IDS}, name


@pytest.mark.parametrize(
    "assembly, policy, protected",
    [
        ("assembly-Dev", "Delete", False),
        ("assembly-Staging", "Retain", True),
        ("assembly-Prod", "Retain", True),
    ],
)
def test_data_survives_stack_deletion_outside_dev(synthesized, assembly, policy, protected):
    _, stages, cloud_assembly, outdir = synthesized
    template = _templates(outdir)[assembly]
    for logical_id in STATEFUL_LOGICAL_IDS:
        assert template["Resources"][logical_id]["DeletionPolicy"] == policy
    stack = next(s.mlops for s in stages if f"assembly-{s.stage_name}" == assembly)
    assert stack.termination_protection is protected


def test_synth_is_deterministic(synthesized, serving_context, tmp_path):
    _, _, _, outdir = synthesized
    app = App(context={**serving_context, "stage": "dev"}, outdir=str(tmp_path))
    cdk_app.build_app(app)
    app.synth()
    assert _templates(tmp_path)["assembly-Dev"] == _templates(outdir)["assembly-Dev"]


def test_stage_takes_account_and_region_from_config(cdk_context, tmp_path):
    stages = json.loads(json.dumps(cdk_context["stages"]))
    stages["prod"].update(account="111122223333", region="eu-west-1")
    app = App(context={**cdk_context, "stages": stages, "stage": "prod"}, outdir=str(tmp_path))
    (stage,) = cdk_app.build_app(app)
    assert (stage.account, stage.region) == ("111122223333", "eu-west-1")
    assert Stack.of(stage.mlops).region == "eu-west-1"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"serverless_memory_mb": 1500}, "stages.staging.serverless_memory_mb: must be one of 1024..6144"),
        (
            {"serving_mode": "realtime", "realtime_min_instances": 3, "realtime_max_instances": 2},
            "stages.staging.realtime_max_instances: must be at least realtime_min_instances (3) (got 2)",
        ),
        (
            {"serving_mode": "realtime", "data_capture_percent": 120},
            "stages.staging.data_capture_percent: must be a percentage within 0..100 (got 120)",
        ),
    ],
)
def test_bad_stage_config_fails_synth_with_one_message_naming_the_field(cdk_context, settings, message):
    stages = json.loads(json.dumps(cdk_context["stages"]))
    stages["staging"].update(settings)
    result = _run_app({**cdk_context, "stages": stages, "stage": "all"})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"Invalid stage configuration: {message}")


def test_real_cdk_cli_rejects_an_unknown_stage(tmp_path):
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    result = subprocess.run(
        [str(CDK_CLI), "synth", "--app", f"{sys.executable} app.py", "-c", "stage=qa", "-o", str(tmp_path), "-q"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert "stage: unknown stage 'qa'" in result.stderr


def test_every_acknowledged_finding_carries_a_reason(synthesized):
    _, _, _, outdir = synthesized
    acknowledged = {}
    for metadata in outdir.glob("assembly-*/*.metadata.json"):
        for path, entries in json.loads(metadata.read_text()).items():
            for entry in entries:
                if entry["type"] == "aws:cdk:acknowledged-rules":
                    acknowledged.update({f"{path} {rule}": reason for rule, reason in entry["data"].items()})
    assert acknowledged, "the stages are expected to acknowledge their unavoidable wildcards"
    for rule, reason in acknowledged.items():
        assert len(reason) >= 40, rule
        if "IAM5[" in rule:
            assert "[Resource::" in rule, f"{rule}: acknowledge one resource finding, never a whole rule"


def test_cfn_lint_gate_catches_an_invalid_property(cdk_context, tmp_path):
    app = App(context={**cdk_context, "stage": "dev"}, outdir=str(tmp_path))
    (stage,) = cdk_app.build_app(app)
    stage.mlops.storage.dataset_bucket.node.default_child.add_property_override(
        "VersioningConfiguration.Status", "Sometimes"
    )
    app.synth()
    (template,) = tmp_path.glob("assembly-Dev/*.template.json")
    assert any(m.rule.id.startswith("E") for m in lint_file(template))


def test_every_stage_serves_its_approved_package(synthesized):
    _, _, _, outdir = synthesized
    for name, template in _templates(outdir).items():
        types = [resource["Type"] for resource in template["Resources"].values()]
        assert types.count("AWS::SageMaker::Model") == 2, name  # the endpoint's, and batch scoring's
        for kind in (
            "AWS::SageMaker::EndpointConfig",
            "AWS::SageMaker::Endpoint",
            "AWS::CloudWatch::Dashboard",
        ):
            assert types.count(kind) == 1, (name, kind)
        # Worker restarts, and the monitor's three signal metrics: served classes, top scores, text lengths.
        assert types.count("AWS::Logs::MetricFilter") == 4, name
        assert types.count("AWS::CloudWatch::Alarm") == 4, name


def test_without_an_approved_package_synth_succeeds_and_says_serving_is_skipped(cdk_context, tmp_path):
    from aws_cdk.assertions import Annotations, Match, Template

    app = App(context={**cdk_context, "stage": "dev"}, outdir=str(tmp_path))
    (stage,) = cdk_app.build_app(app)
    app.synth()
    Template.from_stack(stage.mlops).resource_count_is("AWS::SageMaker::Endpoint", 0)
    Annotations.from_stack(stage.mlops).has_info("*", Match.string_like_regexp("Serving skipped for stage dev"))


def test_model_package_from_the_command_line_needs_one_stage(cdk_context):
    from stacks.config import ConfigError

    app = App(
        context={
            **cdk_context,
            "stage": "all",
            "model_package_arn": "arn:aws:sagemaker:us-east-1:111122223333:model-package/g/1",
        }
    )
    with pytest.raises(ConfigError, match=r"^model_package_arn: -c model_package_arn applies to one stage"):
        cdk_app.build_app(app)


def test_every_stage_has_its_training_pipeline_and_registry(synthesized):
    _, _, _, outdir = synthesized
    for name, template in _templates(outdir).items():
        stage = name.removeprefix("assembly-").lower()
        pipelines = [r for r in template["Resources"].values() if r["Type"] == "AWS::SageMaker::Pipeline"]
        groups = [r for r in template["Resources"].values() if r["Type"] == "AWS::SageMaker::ModelPackageGroup"]
        assert [p["Properties"]["PipelineName"] for p in pipelines] == [
            f"textclf-{stage}-training",
            f"textclf-{stage}-distillation",
        ]
        assert [g["Properties"]["ModelPackageGroupName"] for g in groups] == [f"textclf-{stage}"]
        # Dev's group goes with its stack, so dev can be deployed again (the rehearsal redeploys it).
        assert groups[0]["DeletionPolicy"] == ("Delete" if stage == "dev" else "Retain")
        # A failed run or step of either pipeline alerts the stage (tests/test_pipeline_alerts.py).
        alerts = [
            r for k, r in template["Resources"].items() if r["Type"] == "AWS::Events::Rule" and "PipelineAlerts" in k
        ]
        watched = {p for r in alerts for p in json.dumps(r["Properties"]["EventPattern"]["detail"]).split('"')}
        assert len(alerts) == 2 and {
            f":pipeline/textclf-{stage}-training",
            f":pipeline/textclf-{stage}-distillation",
        } <= (watched), name


@pytest.mark.parametrize("mode", ["serverless", "realtime"])
def test_every_serving_stage_updates_by_its_policy_in_both_serving_modes_as_botocore_accepts(
    mode, synthesized, realtime_synthesized
):
    """Issue 32: dev all at once (SageMaker's default), staging by canary, prod linearly; each request valid."""
    outdir = synthesized[3] if mode == "serverless" else realtime_synthesized
    kinds = {}
    for name, template in _templates(outdir).items():
        (endpoint,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::SageMaker::Endpoint"]
        deployment = endpoint["Properties"].get("DeploymentConfig")
        kinds[name] = deployment and deployment["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"]
        if deployment:
            request(
                "sagemaker",
                "UpdateEndpoint",
                {"EndpointName": "e", "EndpointConfigName": "c", "DeploymentConfig": resolved(deployment)},
            )
            assert len(deployment["AutoRollbackConfiguration"]["Alarms"]) == 3  # errors, workers, latency
    assert sorted(kinds.values(), key=str) == sorted([None, "CANARY", "LINEAR"], key=str), kinds
