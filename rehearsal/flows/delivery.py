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
from rehearsal.cloudformation.model import Resource, Stack
from rehearsal.flows.updates import rehearse_guarded_updates
from rehearsal.pipeline_run import train_and_register
from rehearsal.probes import check_smoke_access
from rehearsal.report import RehearsalFailed
from rehearsal.serving import serve_and_smoke
from rehearsal.session import ACCOUNTS, SINGLE_ACCOUNT, TOOLING_ACCOUNT, Session
from stacks.config import stage_stack_name
from stacks.delivery.config import DELIVERY_STACK_ID
from stacks.project import ROOT

PROMOTED = ("dev", "staging", "prod")
SMOKE_TESTED = ("staging", "prod")


def rehearse_delivery(session: Session) -> None:
    single = session.options.layout == "single"
    accounts: dict[str, str] = dict.fromkeys(PROMOTED, SINGLE_ACCOUNT) if single else dict(ACCOUNTS)
    tooling = SINGLE_ACCOUNT if single else TOOLING_ACCOUNT
    project = None if single else synth.context_with_accounts(ACCOUNTS, tooling)
    report = session.report

    started = report.step(f"Synthesize the delivery pipeline and its stages ({session.options.layout} layout)")
    assembly = synth.synthesize(session.work / "cdk.out", context={"stage": "delivery"}, project_context=project)
    report.status("synth Delivery + Dev, Staging, Prod", "ok", started)
    _, delivery = session.deploy(synth.stack_named(assembly, DELIVERY_STACK_ID), tooling)
    deployments = {
        name: session.deploy(synth.stack_named(assembly, stage_stack_name(name)), accounts[name]) for name in PROMOTED
    }

    package = train_and_register(session, deployments["dev"][1], accounts["dev"])
    session.approve(package, accounts["dev"])
    release_file = resolve_release(session, delivery)

    started = report.step("Synthesize the release: every stage serves its own verified copy")
    released = synth.synthesize(
        session.work / "cdk.out-release",
        context={"stage": "delivery", "release": str(release_file)},
        project_context=project,
    )
    report.status("synth with -c release", "ok", started)
    approved = assembly_digest(session, delivery, released)
    for name in PROMOTED:
        if name == PROMOTED[-1]:
            verify_assembly(session, delivery, released, approved)
        artifact = synth.stack_named(released, stage_stack_name(name))
        _, stack = session.deploy(artifact, accounts[name], onto=deployments[name][0])
        if name in SMOKE_TESTED:
            smoke_role = check_smoke_access(session.cloud, delivery, stack, name)
            report.status(f"{name}: smoke role may invoke the endpoint", "ok", time.perf_counter(), smoke_role)
            serve_and_smoke(session, stack, name, batch=name == PROMOTED[-1], monitor=name == PROMOTED[-1])
        deployments[name] = (deployments[name][0], stack)
    rehearse_guarded_updates(
        session,
        deployments=deployments,
        accounts=accounts,
        project=project,
        resolve=lambda: resolve_release(session, delivery),
    )


def resolve_release(session: Session, delivery: Stack) -> Path:
    """Run the ResolveRelease step's own command, as its CodeBuild role."""
    started = session.report.step("ResolveRelease: the newest approved package, as the pipeline's release role")
    project, command = _build_command(delivery, "delivery_steps.release resolve")
    role = project.properties["ServiceRole"]
    folder = session.work / "release-step"
    folder.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        **session.cloud.env_for(role, session.region),
    }
    result = subprocess.run(shlex.split(command), cwd=folder, env=env, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        session.report.status("ResolveRelease", "FAILED", started, result.stderr.strip()[-800:])
        raise RehearsalFailed(f"ResolveRelease as {role}: {result.stderr.strip()[-800:]}")
    release_file = folder / "release" / "release.json"
    record = json.loads(release_file.read_text())
    session.report.status(
        "ResolveRelease",
        "ok",
        started,
        f"{record['model_package_arn']} sha256={record.get('model_data_sha256', '')[:12]}…",
    )
    # The step's next command exports what the prod approval shows; run in the same shell, as CodeBuild runs it.
    _, export = _build_command(delivery, "delivery_steps.release summary")
    shown = subprocess.run(
        ["/bin/sh", "-c", f'{export} && printf %s "$RELEASE_SUMMARY"'],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if shown.returncode != 0 or (record.get("model_data_sha256") or "") not in shown.stdout:
        session.report.status("approval summary", "FAILED", started, shown.stderr.strip()[-800:])
        raise RehearsalFailed(f"ResolveRelease's approval summary: {shown.stderr.strip()[-800:] or shown.stdout}")
    session.report.status("approval summary", "ok", started, shown.stdout[:160] + "…")
    return release_file


def assembly_digest(session: Session, delivery: Stack, assembly: Path) -> str:
    """Synth's last command, which exports the digest prod's approver is shown, run on the synthesized assembly as
    the build runs it: in the folder that holds cdk.out."""
    started = time.perf_counter()
    _, export = _build_command(delivery, "ASSEMBLY_SHA256=")
    build = session.work / "synth-build"
    build.mkdir(parents=True, exist_ok=True)
    (build / "cdk.out").unlink(missing_ok=True)
    (build / "cdk.out").symlink_to(assembly.resolve(), target_is_directory=True)
    shown = _sh(f'{export} && printf %s "$ASSEMBLY_SHA256"', build)
    if shown.returncode != 0 or len(shown.stdout) != 64:
        raise RehearsalFailed(f"Synth's assembly digest: {shown.stderr.strip()[-800:] or shown.stdout!r}")
    session.report.status("cloud assembly digest", "ok", started, f"sha256 {shown.stdout}, shown at prod's approval")
    return shown.stdout


def verify_assembly(session: Session, delivery: Stack, assembly: Path, approved: str) -> None:
    """The step between prod's approval and its deployment, run as its buildspec says on the assembly it gets."""
    started = time.perf_counter()
    _, verify = _build_command(delivery, "APPROVED_SHA256")
    result = _sh(verify, assembly, {"APPROVED_SHA256": approved})
    if result.returncode != 0:
        session.report.status("VerifyProdAssembly", "FAILED", started, result.stdout.strip()[-400:])
        raise RehearsalFailed(f"VerifyProdAssembly: {result.stdout.strip()[-800:]} {result.stderr.strip()[-400:]}")
    session.report.status("VerifyProdAssembly", "ok", started, "prod deploys the assembly its approver was shown")


def _sh(command: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["/bin/sh", "-c", command],
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _build_command(delivery: Stack, needle: str) -> tuple[Resource, str]:
    for resource in delivery.of_type("AWS::CodeBuild::Project"):
        spec = resource.properties.get("Source", {}).get("BuildSpec", "")
        if needle in spec:
            commands = json.loads(spec)["phases"]["build"]["commands"]
            return resource, next(c for c in commands if needle in c)
    raise RehearsalFailed(f"the delivery pipeline has no build step running {needle!r}")
