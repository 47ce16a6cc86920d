"""The delivery flow, rehearsed: dev trains and registers, a release promotes it, staging and prod serve it.

Both layouts the project supports: every stage in one account (cdk.json as shipped), and each stage
in its own account with a separate tooling account. The pipeline's own steps run as their CodeBuild
roles: ResolveRelease runs the command its buildspec holds, and each smoke test assumes its stage's
smoke-test role before it invokes the endpoint.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

from rehearsal import synth
from rehearsal.deploy import Stack
from rehearsal.iam import Request
from rehearsal.run import ACCOUNTS, SINGLE_ACCOUNT, TOOLING_ACCOUNT, Rehearsal, RehearsalFailed
from stacks.project import ROOT

PROMOTED = ("dev", "staging", "prod")
SMOKE_TESTED = ("staging", "prod")


def rehearse_delivery(rehearsal: Rehearsal) -> None:
    accounts = dict.fromkeys(PROMOTED, SINGLE_ACCOUNT) if rehearsal.options.layout == "single" else ACCOUNTS
    tooling = SINGLE_ACCOUNT if rehearsal.options.layout == "single" else TOOLING_ACCOUNT
    project = None if rehearsal.options.layout == "single" else synth.context_with_accounts(ACCOUNTS, tooling)
    report = rehearsal.report

    started = report.step(f"Synthesize the delivery pipeline and its stages ({rehearsal.options.layout} layout)")
    assembly = synth.synthesize(rehearsal.work / "cdk.out", context={"stage": "delivery"}, project_context=project)
    report.status("synth Delivery + Dev, Staging, Prod", "ok", started)
    _, delivery = rehearsal.deploy(synth.stack_named(assembly, "Delivery"), tooling)
    deployments = {name: rehearsal.deploy(_stage_artifact(assembly, name), accounts[name]) for name in PROMOTED}

    package = rehearsal.train_and_register(deployments["dev"][1], accounts["dev"])
    rehearsal.approve(package, accounts["dev"])
    release_file = resolve_release(rehearsal, delivery, tooling)

    started = report.step("Synthesize the release: every stage serves its own verified copy")
    released = synth.synthesize(
        rehearsal.work / "cdk.out-release",
        context={"stage": "delivery", "release": str(release_file)},
        project_context=project,
    )
    report.status("synth with -c release", "ok", started)
    for name in PROMOTED:
        _, stack = rehearsal.deploy(_stage_artifact(released, name), accounts[name], onto=deployments[name][0])
        if name in SMOKE_TESTED:
            smoke_role = check_smoke_access(rehearsal, delivery, stack, name)
            rehearsal.report.status(
                f"{name}: smoke role may invoke the endpoint", "ok", time.perf_counter(), smoke_role
            )
            rehearsal.serve_and_smoke(stack, name)


def _stage_artifact(assembly: Path, name: str) -> synth.StackArtifact:
    return synth.stack_named(assembly, f"{name.capitalize()}-Mlops")


def resolve_release(rehearsal: Rehearsal, delivery: Stack, tooling: str) -> Path:
    """Run the ResolveRelease step's own command, as its CodeBuild role."""
    started = rehearsal.report.step("ResolveRelease: the newest approved package, as the pipeline's release role")
    project, command = _build_command(delivery, "delivery_steps.release resolve")
    role = project.properties["ServiceRole"]
    folder = rehearsal.work / "release-step"
    folder.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        **rehearsal.cloud.env_for(role, rehearsal.region),
    }
    result = subprocess.run(shlex.split(command), cwd=folder, env=env, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        rehearsal.report.status("ResolveRelease", "FAILED", started, result.stderr.strip()[-800:])
        raise RehearsalFailed(f"ResolveRelease as {role}: {result.stderr.strip()[-800:]}")
    release_file = folder / "release" / "release.json"
    record = json.loads(release_file.read_text())
    rehearsal.report.status(
        "ResolveRelease",
        "ok",
        started,
        f"{record['model_package_arn']} sha256={record.get('model_data_sha256', '')[:12]}…",
    )
    return release_file


def check_smoke_access(rehearsal: Rehearsal, delivery: Stack, stack: Stack, stage: str) -> str:
    """The stage's smoke step assumes the stage's smoke-test role, which must be able to invoke the endpoint."""
    role_arn = stack.outputs["SmokeTestRoleArn"]
    project = _smoke_project(rehearsal, delivery, role_arn)
    step_role = project.properties["ServiceRole"]
    try:
        rehearsal.cloud.as_role("sts", step_role, rehearsal.region).assume_role(
            RoleArn=role_arn, RoleSessionName="textclf-smoke-test"
        )
        endpoint = next(r for r in stack.resources.values() if r.type == "AWS::SageMaker::Endpoint")
        rehearsal.cloud.directory.check(Request(role_arn, "sagemaker:InvokeEndpoint", endpoint.physical_id))
    except Exception as error:
        raise RehearsalFailed(f"{stage} smoke test: {error}") from error
    return role_arn


def _smoke_project(rehearsal: Rehearsal, delivery: Stack, smoke_role_arn: str):
    """The smoke step whose role may assume this stage's smoke-test role (by its fixed path)."""
    path = smoke_role_arn.split(":role", 1)[1].rsplit("/", 1)[0] + "/"
    for resource in delivery.of_type("AWS::CodeBuild::Project"):
        if "delivery_steps.smoke" not in json.dumps(resource.properties.get("Source", {})):
            continue
        record = rehearsal.cloud.directory.role(resource.properties["ServiceRole"])
        if any(path in json.dumps(p.document) for p in record.policies):
            return resource
    raise RehearsalFailed(f"no smoke-test step of the delivery pipeline may assume {smoke_role_arn}")


def _build_command(delivery: Stack, needle: str):
    for resource in delivery.of_type("AWS::CodeBuild::Project"):
        spec = resource.properties.get("Source", {}).get("BuildSpec", "")
        if needle in spec:
            commands = json.loads(spec)["phases"]["build"]["commands"]
            return resource, next(c for c in commands if needle in c)
    raise RehearsalFailed(f"the delivery pipeline has no build step running {needle!r}")
