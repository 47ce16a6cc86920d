"""One stage, as an operator takes it from nothing to serving: synthesize, deploy, run the pipeline, approve the
package, synthesize the stage serving it, deploy that update, serve it and smoke-test it."""

from __future__ import annotations

from rehearsal import synth
from rehearsal.pipeline_run import train_and_register
from rehearsal.probes import check_event_rules
from rehearsal.serving import serve_and_smoke
from rehearsal.session import SINGLE_ACCOUNT, Session
from stacks.config import stage_stack_name


def rehearse_stage(session: Session, name: str) -> None:
    report, work, account = session.report, session.work, SINGLE_ACCOUNT
    started = report.step(f"Synthesize stage {name} with the pinned CDK CLI")
    assembly = synth.synthesize(work / "cdk.out", context={"stage": name})
    artifact = synth.stack_named(assembly, stage_stack_name(name))
    report.status(f"synth {artifact.name}", "ok", started)
    deployment, stack = session.deploy(artifact, account)
    if session.options.redeploy:
        deployment, stack = session.destroy_and_redeploy(deployment, artifact, account)
    package = train_and_register(session, stack, account)
    check_event_rules(session.cloud, [stack], report)
    session.approve(package, account)
    started = report.step(f"Synthesize stage {name} serving the approved package (-c model_package_arn)")
    assembly = synth.synthesize(work / "cdk.out-serving", context={"stage": name, "model_package_arn": package})
    report.status("synth with -c model_package_arn", "ok", started)
    _, updated = session.deploy(synth.stack_named(assembly, stage_stack_name(name)), account, onto=deployment)
    serve_and_smoke(session, updated, name)
