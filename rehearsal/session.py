"""One rehearsal's session with the emulated cloud: `cdk deploy` of a synthesized stack (and destroy, redeploy),
and the registry's approval, as an operator does them; what the run writes goes under ``options.output``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from rehearsal import synth
from rehearsal.cloud import Cloud
from rehearsal.cloudformation import custom_resources
from rehearsal.cloudformation.assets import bootstrap, publish_assets
from rehearsal.cloudformation.engine import Deployment
from rehearsal.cloudformation.model import Resource, Stack
from rehearsal.cloudformation.types import RESOURCE_TYPES
from rehearsal.iam import AccessDenied
from rehearsal.probes import check_model_role
from rehearsal.report import RehearsalFailed, Report
from stacks.cfn_lint import lint
from stacks.project import ROOT

REGION = "us-east-1"
SINGLE_ACCOUNT = "111111111111"
ACCOUNTS = {"dev": "222222222222", "staging": "333333333333", "prod": "444444444444"}
TOOLING_ACCOUNT = "555555555555"


@dataclass
class Options:
    stage: str
    layout: str = "single"
    output: Path = ROOT / "out" / "rehearsal"
    interrupt_at_step: int | None = 40
    train_rows: int | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    redeploy: bool = False
    pipeline: str = "training"


class Session:
    def __init__(self, cloud: Cloud, options: Options, report: Report) -> None:
        self.cloud, self.options, self.report = cloud, options, report
        self.work = options.output
        self.region = REGION

    def deploy(
        self, artifact: synth.StackArtifact, account: str, *, onto: Deployment | None = None
    ) -> tuple[Deployment, Stack]:
        """`cdk deploy`: publish the artifact's assets, then create the stack, or update ``onto``'s, from it."""
        started = self.report.step(f"Deploy {artifact.name} to account {account} (emulated)")
        # CloudFormation refuses what its resource schemas refuse before creating anything; cfn-lint checks those.
        errors, _ = lint(artifact.template_path)
        if errors:
            self.report.status(f"cfn-lint {artifact.name}", "FAILED", started, errors[0])
            raise RehearsalFailed(
                f"cfn-lint on {artifact.name}: {errors[0]} ({len(errors)} error(s) in {artifact.template_path}). "
                "Fix: correct the construct that writes it; `textclf synth` lists every finding."
            )
        if artifact.assets_path:
            publish_assets(self.cloud, artifact.assets_path, account=account, region=self.region)
        deployment = onto or self.deployment(account)
        stack = self._attempt(
            f"deploy {artifact.name}",
            started,
            lambda: (
                deployment.update(artifact.template) if onto else deployment.create(artifact.name, artifact.template)
            ),
        )
        copies = [r.attributes["ModelDataUrl"] for r in stack.resources.values() if r.type == "Custom::ReleasedModel"]
        self.report.status(
            f"deploy {artifact.name}",
            "ok",
            started,
            f"{len(stack.resources)} resources" + "".join(f"; serves its copy {url}" for url in copies),
        )
        return deployment, stack

    def _attempt(self, name: str, started: float, action):
        """Run one deployment action; what CloudFormation would fail is reported and ends the rehearsal."""
        try:
            return action()
        except Exception as error:
            self.report.status(name, "FAILED", started, str(error))
            raise RehearsalFailed(str(error)) from error

    def deployment(self, account: str) -> Deployment:
        """Where stacks deploy in ``account``, which `cdk bootstrap` prepared first."""
        bootstrap(self.cloud, account, self.region)
        return Deployment(
            self.cloud,
            account=account,
            region=self.region,
            creators={
                "AWS::SageMaker::Endpoint": self._create_endpoint,
                "Custom::": custom_resources.custom_resource(self.work / "custom-resources" / account),
            },
        )

    def _create_endpoint(self, deployment: Deployment, logical_id: str, properties: dict) -> Resource:
        """Creating the endpoint starts the container: its role must pull the image and read the model data
        with only the policies CloudFormation is sure to have created by then."""
        started = time.perf_counter()
        try:
            check_model_role(self.cloud, deployment.stack, logical_id)
        except AccessDenied as denied:
            self.report.status(f"create endpoint {logical_id}", "FAILED", started, str(denied))
            raise RehearsalFailed(
                f"{deployment.stack.name}/{logical_id}: endpoint creation fails: {denied}"
            ) from denied
        return RESOURCE_TYPES["AWS::SageMaker::Endpoint"].create(deployment, logical_id, properties)

    def destroy_and_redeploy(
        self, deployment: Deployment, artifact: synth.StackArtifact, account: str
    ) -> tuple[Deployment, Stack]:
        """`cdk destroy`, then `cdk deploy` of the same template: what is retained must not block the new stack."""
        started = self.report.step(f"Destroy {artifact.name}, then deploy it again")
        retained = deployment.delete()
        again = self.deployment(account)
        stack = self._attempt(
            f"redeploy {artifact.name}", started, lambda: again.create(artifact.name, artifact.template)
        )
        self.report.status(
            f"destroy + redeploy {artifact.name}", "ok", started, f"retained: {', '.join(retained) or 'nothing'}"
        )
        return again, stack

    def approve(self, package: str, account: str) -> None:
        started = time.perf_counter()
        self.cloud.admin("sagemaker", account, self.region).update_model_package(
            ModelPackageArn=package, ModelApprovalStatus="Approved"
        )
        self.report.status("approve the package", "ok", started, package)
