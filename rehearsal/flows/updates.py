"""Guarded updates, rehearsed after the first release: three more releases reach staging, whose endpoint takes each
by its deployed update policy (a canary, as cdk.json ships it) on two real model servers.

- a good release (the same model, registered again) completes every step, then goes on to prod, whose endpoint
  takes it by prod's own policy (linear, as cdk.json ships it), also on two real model servers;
- a release whose handler fails on every request, and one whose labels are swapped (fast, no errors, wrong),
  each roll back on the rollback alarm that sees it; the endpoint keeps serving the good model, and the smoke
  step fails the stage naming the configuration it meant, the one still served, and the alarm.

Each release goes the pipeline's way: registered in dev's registry and approved, resolved by ResolveRelease as its
role, synthesized with ``-c release``, deployed onto the stage. The bad models are what a faulty export would have
registered: their own bytes and digest, and the probe set of the model they replace.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from rehearsal import synth
from rehearsal.cloudformation.engine import Deployment
from rehearsal.cloudformation.model import Stack
from rehearsal.report import RehearsalFailed
from rehearsal.sagemaker.channels import pack_model_dir, split_uri
from rehearsal.sagemaker.guardrails import Outcome
from rehearsal.serving import fleet, guarded_update, smoke_step_verdict
from rehearsal.session import Session
from stacks.config import MODEL_DATA_PREFIX, stage_stack_name
from training import archives, contract, model_registry

UPDATED = "staging"
# A release that completes on staging goes on to prod, which takes it by its own deployed policy (linear, as cdk.json
# ships it): what fails staging never reaches prod, as in the delivery pipeline.
FOLLOWS = "prod"


def _failing_handler(model_dir: Path) -> None:
    handler = model_dir / "code" / "inference.py"
    text = handler.read_text()
    handler.write_text(
        text.replace(
            "def predict_fn(request, model):",
            "def predict_fn(request, model):\n    raise RuntimeError('a release whose handler fails')\n",
        )
    )


def _swapped_labels(model_dir: Path) -> None:
    config_file = model_dir / "config.json"
    config = json.loads(config_file.read_text())
    names = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
    config["id2label"] = {str(i): name for i, name in enumerate(reversed(names))}
    config["label2id"] = {name: i for i, name in enumerate(reversed(names))}
    config_file.write_text(json.dumps(config, indent=2))


# name -> (how its model differs from the first release's, the rollback alarm that must catch it; None: completes)
RELEASES: dict[str, tuple[Callable[[Path], None] | None, str | None]] = {
    "good": (None, None),
    "failing": (_failing_handler, "ProbeAgreementAlarm"),
    "wrong": (_swapped_labels, "ProbeAgreementAlarm"),
}


def rehearse_guarded_updates(
    session: Session,
    *,
    deployments: dict[str, tuple[Deployment, Stack]],
    accounts: Mapping[str, str],
    project: dict | None,
    resolve: Callable[[], Path],
) -> None:
    dev, (deployment, stack) = deployments["dev"][1], deployments[UPDATED]
    sagemaker = session.cloud.admin("sagemaker", accounts["dev"], session.region)
    first = model_registry.newest_approved(sagemaker, dev.outputs["ModelPackageGroupName"])
    assert first is not None, "the first release approved a package"
    serving = fleet(session, stack, UPDATED, "blue")
    served_config = stack.outputs["EndpointConfigName"]
    try:
        serving.start()
        for name, (change, alarm) in RELEASES.items():
            register_variant(session, first["ModelPackageArn"], accounts["dev"], name, change)
            release_file = resolve()
            planted = f" (a planted bad release: {alarm} must roll it back, and that is the expected result)"
            started = session.report.step(f"Synthesize the {name} release{planted if alarm else ''}")
            assembly = synth.synthesize(
                session.work / f"cdk.out-{name}",
                context={"stage": "delivery", "release": str(release_file)},
                project_context=project,
            )
            session.report.status(f"synth the {name} release", "ok", started)
            artifact = synth.stack_named(assembly, stage_stack_name(UPDATED))
            deployment, stack = session.deploy(artifact, accounts[UPDATED], onto=deployment)
            outcome, green = guarded_update(session, serving, stack, UPDATED)
            if green is not None:
                serving.cleanup()
                serving, served_config = green, stack.outputs["EndpointConfigName"]
            _judge(session, stack, name, alarm, outcome, served_config)
            if outcome.completed:
                deployments[FOLLOWS] = _promote(session, assembly, deployments[FOLLOWS], accounts[FOLLOWS], name)
    finally:
        serving.cleanup()


def _promote(
    session: Session, assembly: Path, current: tuple[Deployment, Stack], account: str, name: str
) -> tuple[Deployment, Stack]:
    """The release's next stage: its stack from the same assembly, deployed onto the one serving, and the endpoint
    updated by that stage's policy on real model servers; the release must complete there too."""
    deployment, served = current
    artifact = synth.stack_named(assembly, stage_stack_name(FOLLOWS))
    with fleet(session, served, FOLLOWS, "blue") as blue:
        deployment, stack = session.deploy(artifact, account, onto=deployment)
        outcome, green = guarded_update(session, blue, stack, FOLLOWS)
        if green is not None:
            green.cleanup()
    if not outcome.completed:
        raise RehearsalFailed(
            f"the {name} release passed {UPDATED} but did not complete on {FOLLOWS}: {outcome.trail[-1]}"
        )
    session.report.status(
        f"{name} release on {FOLLOWS}: completed", "ok", time.perf_counter(), "; ".join(outcome.trail)
    )
    return deployment, stack


def _judge(session: Session, stack: Stack, name: str, alarm: str | None, outcome: Outcome, served: str) -> None:
    """The update's outcome as the release expects it, and the smoke step's verdict on what the endpoint serves."""
    started = time.perf_counter()
    problems = smoke_step_verdict(session, stack, outcome, served)
    if alarm is None:
        if problems or not outcome.completed:
            raise RehearsalFailed(f"the {name} release did not complete: {'; '.join(problems) or outcome.trail[-1]}")
        session.report.status(f"{name} release: completed", "ok", started, f"the endpoint serves {served}")
        return
    if outcome.completed or not any(alarm in fired for fired in outcome.fired) or not problems:
        raise RehearsalFailed(
            f"the {name} release was not rolled back by {alarm}: alarms {outcome.fired}, smoke step {problems}"
        )
    session.report.status(
        f"{name} release: rolled back, as planted", "ok", started, f"the smoke step fails the stage: {problems[0]}"
    )


def register_variant(
    session: Session, base: str, account: str, name: str, change: Callable[[Path], None] | None
) -> str:
    """Register and approve, in ``base``'s group, ``base``'s model with ``change`` made to it."""
    sagemaker = session.cloud.admin("sagemaker", account, session.region)
    s3 = session.cloud.admin("s3", account, session.region)
    described, container = model_registry.serving_container(sagemaker, base)
    group = described["ModelPackageGroupName"]
    bucket, key = split_uri(container["ModelDataUrl"])
    data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    if change is not None:
        data = _changed(data, change, session.work / "releases" / name)
    key = f"{MODEL_DATA_PREFIX}rehearsal-{name}/output/model.tar.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=data)
    metadata = {**described["CustomerMetadataProperties"], contract.MODEL_DATA_SHA256: hashlib.sha256(data).hexdigest()}
    arn = sagemaker.create_model_package(
        ModelPackageGroupName=group,
        ModelPackageDescription=f"Rehearsal: the {name} release",
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            **described["InferenceSpecification"],
            "Containers": [{**container, "ModelDataUrl": f"s3://{bucket}/{key}"}],
        },
        CustomerMetadataProperties=metadata,
    )["ModelPackageArn"]
    session.approve(arn, account)
    return arn


def _changed(data: bytes, change: Callable[[Path], None], folder: Path) -> bytes:
    """``data`` (a model.tar.gz) unpacked, changed and packed again; gzip level 1, since only its bytes matter."""
    source = folder / "source.tar.gz"
    folder.mkdir(parents=True, exist_ok=True)
    source.write_bytes(data)
    model = folder / "model"
    archives.unpack(source, model, field="the released model data")
    change(model)
    return pack_model_dir(model, folder / "model.tar.gz", compresslevel=1).read_bytes()
