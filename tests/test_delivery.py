"""Delivery pipeline: CDK Pipeline dev → staging (smoke) → approval → prod (smoke), on approvals and commits."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from aws_cdk import App
from aws_cdk.assertions import Match, Template
from conftest import model_package_arn

import app as cdk_app
from cli.synth_report import checkov, templates
from stacks.cfn_lint import lint
from stacks.cfn_text import render
from stacks.delivery.nag import _explained
from stacks.images import images_for
from stacks.nag import as_list

CONNECTION = "arn:aws:codestar-connections:us-east-1:999988887777:connection/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
RELEASED = model_package_arn("dev", version=7)
DIGEST = "5e" * 32
IMAGE = images_for("us-east-1").inference
ROLLBACK_ALARMS = ("LatencyP99Alarm", "ProbeAgreementAlarm", "ServerErrorsAlarm", "WorkerRestartsAlarm")


def release_file_for(arn: str) -> dict:
    """What `python -m delivery_steps.release resolve` writes for an approved package of dev's registry."""
    return {
        "model_package_arn": arn,
        # The registry's account's dev artifact bucket (stacks.config.artifact_bucket_name).
        "model_data_url": f"s3://textclf-dev-models-{arn.split(':')[4]}-us-east-1/training-jobs/job-7/output/model.tar.gz",
        "model_data_sha256": DIGEST,
        "image": IMAGE,
        "environment": {"SAGEMAKER_PROGRAM": "inference.py"},
        "probes": [["positive", "a moving, funny film"], ["negative", "a dull, joyless mess"]],
        "monitor_baseline": {"class_mix": [0.48, 0.52], "length": [0.3, 0.5, 0.2, 0, 0, 0, 0, 0], "mean_score": 0.9},
    }


def synth_delivery(context: dict, outdir: Path, *, release: str | None = RELEASED, **delivery) -> tuple[App, object]:
    context = copy.deepcopy(context)
    context["delivery"].update(delivery)
    if release is not None:
        release_file = outdir.parent / f"{outdir.name}-release.json"
        release_file.write_text(json.dumps(release_file_for(release)))
        context["release"] = str(release_file)
    app = App(context={**context, "stage": "delivery"}, outdir=str(outdir))
    cdk_app.build_app(app)
    app.synth()
    return app, app.node.find_child("Delivery")


@pytest.fixture(scope="module")
def delivered(cdk_context, tmp_path_factory):
    outdir = tmp_path_factory.mktemp("delivery.out")
    _, stack = synth_delivery(cdk_context, outdir)
    return stack, Template.from_stack(stack), outdir


def pipeline_stages(template: Template) -> dict[str, list[dict]]:
    (pipeline,) = template.find_resources("AWS::CodePipeline::Pipeline").values()
    return {stage["Name"]: stage["Actions"] for stage in pipeline["Properties"]["Stages"]}


def action(stages: dict, stage: str, name: str) -> dict:
    return next(a for a in stages[stage] if a["Name"].endswith(name))


def buildspec(template: Template, action_: dict) -> str:
    """The build commands of a CodeBuild action's project, one per line."""
    project = action_["Configuration"]["ProjectName"]["Ref"]
    spec = template.to_json()["Resources"][project]["Properties"]["Source"]["BuildSpec"]
    # A buildspec holding CloudFormation references is an Fn::Join; render them as <Ref> placeholders.
    phases = json.loads(render(spec))["phases"]
    return "\n".join(
        json.dumps(c) if not isinstance(c, str) else c
        for phase in ("install", "build")
        for c in phases.get(phase, {}).get("commands", [])
    )


def test_pipeline_promotes_dev_then_staging_then_prod_after_a_manual_approval(delivered):
    _, template, _ = delivered
    stages = pipeline_stages(template)
    # Issue 45: no UpdatePipeline stage. A commit cannot change the pipeline (its stages, its approval) before
    # anything runs: pipeline changes deploy only through `cdk deploy Delivery`.
    assert list(stages) == ["Source", "Build", "Assets", "Dev", "Staging", "Prod"]
    (pipeline,) = template.find_resources("AWS::CodePipeline::Pipeline").values()
    assert not pipeline["Properties"].get("RestartExecutionOnUpdate")
    prod = sorted(stages["Prod"], key=lambda a: a["RunOrder"])
    assert prod[0]["ActionTypeId"]["Category"] == "Approval"
    assert prod[0]["Configuration"]["NotificationArn"]["Ref"].startswith("DeliveryApprovalTopic"), (
        "approvers are notified"
    )
    assert [a["ActionTypeId"]["Provider"] for a in prod[1:]] == [
        *("CodeBuild", "CloudFormation", "CloudFormation", "CodeBuild")
    ]
    assert prod[1]["Name"] == "VerifyProdAssembly" and prod[0]["RunOrder"] < prod[1]["RunOrder"] < prod[2]["RunOrder"]
    # The approver is shown the commit, the digest of the cloud assembly that will deploy and what prod will run,
    # as this execution's Source, Synth and ResolveRelease exported them (issues 30 and 45).
    shown = prod[0]["Configuration"]["CustomData"]
    source, synth = stages["Source"][0], action(stages, "Build", "Synth")
    resolve = next(a for a in stages["Build"] if a["Name"] == "ResolveRelease")
    for variable in (f"{source['Namespace']}.VersionId", f"{synth['Namespace']}.ASSEMBLY_SHA256"):
        assert f"#{{{variable}}}" in shown
    assert f"#{{{resolve['Namespace']}.RELEASE_SUMMARY}}" in shown
    assert all(a["ActionTypeId"]["Category"] != "Approval" for a in stages["Dev"] + stages["Staging"])


def shell(command: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """One buildspec command, as CodeBuild runs it: /bin/sh, in the step's input folder."""
    return subprocess.run(["/bin/sh", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def test_prod_deploys_only_the_cloud_assembly_its_approver_was_shown(delivered, tmp_path):
    """Issue 45: every execution's builds write to one artifact bucket, so another execution's Synth could write
    over the assembly of one waiting at prod's approval. Synth's digest, shown to the approver, is checked again by
    the step between the approval and prod's deployment: the two commands the pipeline's buildspecs hold, run on a
    synthesized assembly, pass on it as written and fail once one file of it changes."""
    _, template, outdir = delivered
    stages = pipeline_stages(template)
    synth_export = next(
        c for c in buildspec(template, action(stages, "Build", "Synth")).splitlines() if "ASSEMBLY_SHA256=" in c
    )
    verify = buildspec(template, action(stages, "Prod", "VerifyProdAssembly"))
    variables = json.loads(action(stages, "Prod", "VerifyProdAssembly")["Configuration"]["EnvironmentVariables"])
    assert variables == [{"name": "APPROVED_SHA256", "type": "PLAINTEXT", "value": "#{Build@Synth.ASSEMBLY_SHA256}"}]

    build = tmp_path / "build"
    shutil.copytree(outdir, build / "cdk.out")
    digest = shell(f'{synth_export} && printf %s "$ASSEMBLY_SHA256"', build).stdout
    assert len(digest) == 64 and digest == shell(f'{synth_export} && printf %s "$ASSEMBLY_SHA256"', build).stdout
    approved = {**os.environ, "APPROVED_SHA256": digest}
    assert shell(verify, build / "cdk.out", approved).returncode == 0

    (prod_template,) = (build / "cdk.out").glob("assembly-Delivery-Prod/*.template.json")
    prod_template.write_text(prod_template.read_text().replace("textclf-prod", "textclf-pwnd", 1))
    overwritten = shell(verify, build / "cdk.out", approved)
    assert overwritten.returncode != 0
    assert f"the cloud assembly is not the approved one (sha256 {digest})" in overwritten.stdout


def test_staging_and_prod_run_the_smoke_test_after_deploying(delivered):
    _, template, _ = delivered
    stages = pipeline_stages(template)
    for stage in ("Staging", "Prod"):
        deploy, smoke = action(stages, stage, "Deploy"), action(stages, stage, "SmokeTest")
        assert smoke["RunOrder"] > deploy["RunOrder"]
        spec = buildspec(template, smoke)
        assert 'python -m delivery_steps.smoke --url "$ENDPOINT_URL" --role-arn "$SMOKE_TEST_ROLE_ARN"' in spec
        assert "--cases data/smoke_cases.jsonl --latency-p95-ms 3000 --min-accuracy 1" in spec
        # The endpoint URL and role come from the stage stack's outputs, at deploy time.
        variables = {v["name"]: v["value"] for v in json.loads(smoke["Configuration"]["EnvironmentVariables"])}
        assert variables["ENDPOINT_URL"].endswith(".EndpointUrl}")
        assert variables["SMOKE_TEST_ROLE_ARN"].endswith(".SmokeTestRoleArn}")
    assert not any(a["Name"].endswith("SmokeTest") for a in stages["Dev"])


def test_a_failed_smoke_test_rolls_the_stage_back_to_its_last_good_release(delivered):
    _, template, _ = delivered
    (pipeline,) = template.find_resources("AWS::CodePipeline::Pipeline").values()
    on_failure = {stage["Name"]: stage.get("OnFailure") for stage in pipeline["Properties"]["Stages"]}
    assert on_failure["Staging"] == on_failure["Prod"] == {"Result": "ROLLBACK"}
    assert on_failure["Dev"] is None and on_failure["Build"] is None


def test_synth_runs_the_fast_checks_then_cdk_synth_and_the_rest_of_make_test_gates_the_first_deployment(delivered):
    """`make test` is `make check` (Synth) plus `make test-workloads` (Rehearse, before Dev deploys): the two
    targets split one suite by its `workload` marker, so together they run all of it."""
    _, template, _ = delivered
    stages = pipeline_stages(template)
    resolve, synth = action(stages, "Build", "ResolveRelease"), action(stages, "Build", "Synth")
    assert resolve["RunOrder"] < synth["RunOrder"]
    spec = buildspec(template, synth)
    assert spec.index("make check") < spec.index("cdk synth")
    rehearse = action(stages, "Dev", "Rehearse")
    assert "make test-workloads" in buildspec(template, rehearse)
    deploys = [a for a in stages["Dev"] if not a["Name"].endswith("Rehearse")]
    assert deploys and all(rehearse["RunOrder"] < a["RunOrder"] for a in deploys)
    assert not any(a["Name"].endswith("Rehearse") for name, actions in stages.items() if name != "Dev" for a in actions)
    assert "-c stage=delivery -c release=release/release.json" in spec
    assert "delivery_steps.release resolve --group" in buildspec(template, resolve)


def test_every_install_the_pipeline_runs_is_locked_or_pinned(delivered):
    """Synth and Rehearse run `make check` and `make test-workloads` (their installs: tests/test_locks.py). Every
    other step installs boto3 from a hash lock, and the asset steps aws-cdk-lib generates install package.json's
    cdk-assets."""
    _, template, outdir = delivered
    specs = [
        p["Properties"]["Source"].get("BuildSpec") for p in template.find_resources("AWS::CodeBuild::Project").values()
    ]
    # aws-cdk-lib writes the asset-publishing buildspecs to files beside the template.
    documents = [
        json.loads(render(spec)) if not str(spec).endswith(".yaml") else json.loads((outdir / spec).read_text())
        for spec in specs
        if spec
    ]
    commands = [c for d in documents for phase in d["phases"].values() for c in phase.get("commands", [])]
    pip = [c for c in commands if "pip install" in c]
    assert len(pip) == 3, "the release step and two smoke tests install boto3"
    assert all("--require-hashes --no-deps -r locks/release.lock" in c for c in pip), pip
    pins = json.loads((Path(__file__).parent.parent / "package.json").read_text())["devDependencies"]
    npm = sorted({c for c in commands if "npm install" in c})
    # The pipeline does not mutate itself, so no step installs the CDK CLI globally (Synth runs package.json's).
    assert npm == [f"npm install -g cdk-assets@{pins['cdk-assets']}"]
    assert "index-url" not in json.dumps(template.to_json()).lower(), "no step adds a package index"


def test_only_the_pipelines_action_role_may_start_builds_and_only_its_own_projects(delivered):
    """aws-cdk-lib also let the asset-publishing role start any project, self-mutation included (issue 16, finding
    6); the pipeline never used that grant, and it is gone."""
    _, template, _ = delivered
    resources = template.to_json()["Resources"]
    projects = {k for k, r in resources.items() if r["Type"] == "AWS::CodeBuild::Project"}
    starters = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            if "codebuild:StartBuild" in as_list(statement["Action"]):
                starters[logical_id] = {r["Fn::GetAtt"][0] for r in as_list(statement["Resource"])}
    ((policy, started),) = starters.items()
    assert policy.startswith("DeliveryCodePipelineCodeBuildActionRoleDefaultPolicy")
    assert started == projects


def test_every_build_logs_to_the_pipelines_own_encrypted_log_group(delivered):
    """Finding 8 of issue 16: not a group CodeBuild creates itself, without a key or an expiry."""
    _, template, _ = delivered
    ((group_id, group),) = template.find_resources("AWS::Logs::LogGroup").items()
    assert group["Properties"]["RetentionInDays"] == 365 and "KmsKeyId" in group["Properties"]
    projects = template.find_resources("AWS::CodeBuild::Project").values()
    assert {json.dumps(p["Properties"]["LogsConfig"]["CloudWatchLogs"]["GroupName"]) for p in projects} == {
        json.dumps({"Ref": group_id})
    }


def test_release_step_may_only_read_the_source_registry(delivered):
    _, template, _ = delivered
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in template.find_resources(
            "AWS::IAM::Policy",
            {
                "Properties": {
                    "PolicyDocument": {
                        "Statement": Match.array_with(
                            [Match.object_like({"Action": Match.array_with(["sagemaker:ListModelPackages"])})]
                        )
                    }
                }
            },
        ).values()
    ]
    assert len(policies) == 1, "only the ResolveRelease role reads the registry"
    sagemaker_actions = {
        a
        for s in policies[0]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        if a.startswith("sagemaker:")
    }
    assert sagemaker_actions == {
        "sagemaker:DescribeModelPackageGroup",
        "sagemaker:DescribeModelPackage",
        "sagemaker:ListModelPackages",
    }
    assert "textclf-dev" in json.dumps(policies[0])


def test_approval_and_rejection_in_the_source_group_start_a_release(delivered):
    _, template, _ = delivered
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.sagemaker"],
                "detail-type": ["SageMaker Model Package State Change"],
                "detail": {"ModelPackageGroupName": ["textclf-dev"], "ModelApprovalStatus": ["Approved", "Rejected"]},
            },
            "Targets": [Match.object_like({"Arn": Match.any_value(), "RoleArn": Match.any_value()})],
        },
    )
    rule = next(
        r for r in template.find_resources("AWS::Events::Rule").values() if "ModelApprovalStatus" in json.dumps(r)
    )
    assert "Pipeline" in json.dumps(rule["Properties"]["Targets"][0]["Arn"])


def test_every_stage_serves_its_own_verified_copy_with_a_smoke_test_role(delivered):
    stack, _, _ = delivered
    for stage in stack.stages:
        template = Template.from_stack(stage.mlops)
        # The released container, with the model data this stage's copy resource wrote to its own bucket.
        template.has_resource_properties(
            "AWS::SageMaker::Model",
            {
                "PrimaryContainer": Match.object_like(
                    {
                        "Image": IMAGE,
                        "ModelDataUrl": {
                            "Fn::GetAtt": [Match.string_like_regexp("^ReleasedModelCopy"), "ModelDataUrl"]
                        },
                    }
                )
            },
        )
        template.has_resource_properties(
            "Custom::ReleasedModel",
            {
                "SourceModelDataUrl": release_file_for(RELEASED)["model_data_url"],
                "Sha256": DIGEST,
                "DestinationPrefix": "released-models/",
            },
        )
        outputs = template.to_json()["Outputs"]
        smoke_roles = template.find_resources(
            "AWS::IAM::Role", {"Properties": {"Path": Match.string_like_regexp("smoke")}}
        )
        if stage.config.name == "dev":
            # The pipeline does not smoke-test dev: no role there for the tooling account to assume.
            assert smoke_roles == {} and outputs["SmokeTestRoleArn"]["Value"] == "none"
            continue
        ((_, role),) = smoke_roles.items()
        assert role["Properties"]["Path"] == f"/textclf-{stage.config.name}/smoke-test/"
        (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        runner = trust["Condition"]["ArnEquals"]["aws:PrincipalArn"]["Fn::Join"][1]
        assert runner[-1] == f":role/textclf-{stage.config.name}-smoke-test-runner", "one runner, not the account"
        template.has_resource_properties(
            "AWS::IAM::Policy",
            {
                "PolicyDocument": {
                    "Statement": [
                        {
                            # Issue 32: DescribeEndpoint, to tell a rolled-back update.
                            "Action": ["sagemaker:DescribeEndpoint", "sagemaker:InvokeEndpoint"],
                            "Effect": "Allow",
                            "Resource": {"Ref": Match.string_like_regexp("^ServingEndpoint")},
                        },
                        {
                            "Action": "cloudwatch:DescribeAlarmHistory",
                            "Effect": "Allow",
                            "Resource": [
                                {"Fn::GetAtt": [Match.string_like_regexp(f"^Serving{alarm}"), "Arn"]}
                                for alarm in ROLLBACK_ALARMS
                            ],
                        },
                    ]
                }
            },
        )
        outputs = template.to_json()["Outputs"]
        assert {"EndpointUrl", "SmokeTestRoleArn", "EndpointConfigName"} <= set(outputs)
        logical_id, attribute = outputs["EndpointConfigName"]["Value"]["Fn::GetAtt"]
        assert logical_id.startswith("ServingEndpointConfig") and attribute == "EndpointConfigName"


def test_checkov_fails_nothing_in_the_pipeline_or_the_stages_it_releases(delivered):
    """The pipeline's stack and each stage serving a release (its copy function included)."""
    from test_app import CHECKOV_ALLOWED

    _, _, outdir = delivered
    scan = checkov(templates(outdir))
    assert scan.failed == [], "\n".join(f"{f.check_id} {f.resource} {f.template}" for f in scan.failed)
    assert {(f.check_id, f.resource.split(".")[0]) for f in scan.allowed} <= CHECKOV_ALLOWED
    assert all(len(f.reason) >= 20 for f in scan.allowed)


def test_every_template_passes_cdk_nag_and_cfn_lint(delivered):
    stack, _, outdir = delivered
    report = outdir / "validation-report.json"
    assert not report.exists() or json.loads(report.read_text())["pluginReports"] == []
    paths = templates(outdir)
    assert [p.name.split(".")[0] for p in paths][0] == "Delivery" and len(paths) == 4
    for path in paths:
        errors, _ = lint(path)
        assert errors == [], f"{path.name}: {errors}"
    acknowledged = json.loads((outdir / "Delivery.metadata.json").read_text())
    for entries in acknowledged.values():
        for entry in (e for e in entries if e["type"] == "aws:cdk:acknowledged-rules"):
            for rule, reason in entry["data"].items():
                assert len(reason) >= 40, rule
                assert "[Resource::" in rule or "[Action::" in rule, f"{rule}: one finding, never a whole rule"


def test_a_wildcard_nobody_explained_stays_a_finding():
    stores = {"DeliveryArtifactBucket4CF61278"}
    assert list(_explained({"Action": "sagemaker:*", "Resource": "*"}, stores)) == []
    assert (
        list(_explained({"Action": ["s3:GetObject*"], "Resource": "arn:aws:s3:::someone-elses-bucket/*"}, stores)) == []
    )
    other_bucket = {"Fn::Join": ["", [{"Fn::GetAtt": ["DevArtifactBucket0000", "Arn"]}, "/*"]]}
    assert list(_explained({"Action": ["s3:GetObject*"], "Resource": other_bucket}, stores)) == []
    ours = {"Fn::Join": ["", [{"Fn::GetAtt": ["DeliveryArtifactBucket4CF61278", "Arn"]}, "/*"]]}
    assert [f for f, _ in _explained({"Action": ["s3:GetObject*"], "Resource": ours}, stores)] == [
        "Action::s3:GetObject*",
        "Resource::<DeliveryArtifactBucket4CF61278.Arn>/*",
    ]
    explained = list(
        _explained(
            {
                "Action": "sts:AssumeRole",
                "Resource": {
                    "Fn::Join": [
                        "",
                        [
                            "arn:",
                            {"Ref": "AWS::Partition"},
                            ":iam::",
                            {"Ref": "AWS::AccountId"},
                            ":role/textclf-prod/smoke-test/*",
                        ],
                    ]
                },
            },
            stores,
        )
    )
    assert [finding for finding, _ in explained] == [
        "Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:role/textclf-prod/smoke-test/*"
    ]


def test_before_any_approval_stages_deploy_without_serving_and_smoke_tests_skip(cdk_context, tmp_path):
    _, stack = synth_delivery(cdk_context, tmp_path / "out", release=None)
    for stage in stack.stages:
        template = Template.from_stack(stage.mlops)
        template.resource_count_is("AWS::SageMaker::Endpoint", 0)
        outputs = template.to_json()["Outputs"]
        assert outputs["EndpointUrl"]["Value"] == outputs["SmokeTestRoleArn"]["Value"] == "none"
    # The pipeline itself does not change with the release, so a release never needs a self-mutation.
    with_release = Template.from_stack(synth_delivery(cdk_context, tmp_path / "released")[1]).to_json()
    assert Template.from_stack(stack).to_json() == with_release


def test_connection_source_replaces_the_s3_bucket(cdk_context, tmp_path):
    _, stack = synth_delivery(
        cdk_context, tmp_path / "out", connection_arn=CONNECTION, repository="my-org/textclf", branch="release"
    )
    template = Template.from_stack(stack)
    source = pipeline_stages(template)["Source"][0]
    assert source["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert (
        source["Configuration"]["ConnectionArn"],
        source["Configuration"]["FullRepositoryId"],
        source["Configuration"]["BranchName"],
    ) == (CONNECTION, "my-org/textclf", "release")
    assert len(template.find_resources("AWS::S3::Bucket")) == 2, "artifact and access-log buckets only"
    assert lint(tmp_path / "out" / "Delivery.template.json")[0] == []


def test_cross_account_stages_deploy_with_bootstrap_roles_that_can_decrypt_artifacts(cdk_context, tmp_path):
    context = copy.deepcopy(cdk_context)
    for name, account in (("dev", "111111111111"), ("staging", "222222222222"), ("prod", "333333333333")):
        context["stages"][name]["account"] = account
    context["stages"]["dev"]["registry_consumer_accounts"] = ["999999999999", "222222222222", "333333333333"]
    _, stack = synth_delivery(
        context,
        tmp_path / "out",
        account="999999999999",
        release=model_package_arn("dev", version=2).replace("111122223333", "111111111111"),
    )
    template = Template.from_stack(stack)
    key_policy = json.dumps(next(iter(template.find_resources("AWS::KMS::Key").values())))
    for account in ("222222222222", "333333333333"):
        assert f"role/cdk-hnb659fds-deploy-role-{account}-us-east-1" in key_policy
    prod = Template.from_stack(next(s for s in stack.stages if s.config.name == "prod").mlops)
    (role,) = prod.find_resources("AWS::IAM::Role", {"Properties": {"Path": "/textclf-prod/smoke-test/"}}).values()
    trust = json.dumps(role["Properties"]["AssumeRolePolicyDocument"])
    assert ":iam::999999999999:root" in trust and ":iam::999999999999:role/textclf-prod-smoke-test-runner" in trust, (
        "only prod's smoke-test runner in the tooling account may assume the smoke-test role"
    )
    # Prod copies dev's released artifact, reading only dev's training outputs in dev's account (issue 30: not any
    # object the registry's account owns); its model role reads only prod's own copy.
    copy_role = json.dumps(
        prod.find_resources(
            "AWS::IAM::Policy", {"Properties": {"PolicyName": Match.string_like_regexp("^ReleasedModelRole")}}
        )
    )
    assert ":s3:::textclf-dev-models-111111111111-us-east-1/training-jobs/*" in copy_role
    assert '"s3:ResourceAccount": "111111111111"' in copy_role
    dev = Template.from_stack(next(s for s in stack.stages if s.config.name == "dev").mlops)
    approval = next(
        r for r in template.find_resources("AWS::Events::Rule").values() if "ModelApprovalStatus" in json.dumps(r)
    )
    assert approval["Properties"]["EventPattern"]["account"] == ["111111111111"]
    # The registry's account forwards its decisions to the tooling account's bus, which lets it in.
    (bus_policy,) = template.find_resources("AWS::Events::EventBusPolicy").values()
    statement = bus_policy["Properties"]["Statement"]
    assert ":iam::111111111111:root" in json.dumps(statement["Principal"])
    assert statement["Condition"] == {
        "StringEquals": {"events:source": "aws.sagemaker", "events:detail-type": "SageMaker Model Package State Change"}
    }, "the registry's account may put its registry decisions on the bus, nothing else"
    # The tooling account reads packages to resolve a release; only the stages read dev's model data.
    (models,) = [
        s
        for p in dev.find_resources("AWS::S3::BucketPolicy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "ConsumerAccountsReadModels"
    ]
    readers = json.dumps(models["Principal"])
    assert "222222222222" in readers and "333333333333" in readers and "999999999999" not in readers
    registry_policy = json.dumps(dev.find_resources("AWS::SageMaker::ModelPackageGroup"))
    assert "999999999999" in registry_policy
    dev.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": Match.object_like(
                {"detail": Match.object_like({"ModelApprovalStatus": ["Approved", "Rejected"]})}
            ),
            "Targets": [Match.object_like({"Arn": Match.any_value()})],
        },
    )
    assert ":999999999999:event-bus/default" in json.dumps(dev.to_json())
    for path in templates(tmp_path / "out"):
        assert lint(path)[0] == [], path.name


def test_a_resource_wildcard_planted_in_any_role_of_the_pipeline_fails_synth(cdk_context, tmp_path):
    """aws-cdk-lib's own roles included: a "*" is acknowledged only for the actions UNSCOPED_ACTIONS explains.
    The stages are the stacks test_app plants in (CDK Pipelines synthesizes them as it builds)."""
    from test_app import failing_checkov, plant_a_resource_wildcard_in_every_role, policies_with_the_planted_wildcard

    app = App(context={**cdk_context, "stage": "delivery"}, outdir=str(tmp_path))
    cdk_app.build_app(app)
    assert plant_a_resource_wildcard_in_every_role(app, tmp_path, in_stages=False) == set()
    assert policies_with_the_planted_wildcard(tmp_path) == failing_checkov(tmp_path) != set()
