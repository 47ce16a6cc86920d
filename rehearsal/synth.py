"""Synthesize with the pinned CDK CLI, as a user would, and find a stage's template and assets in the assembly.

A layout other than cdk.json's (stages in their own accounts) is synthesized from a copy of
cdk.json with those accounts filled in, in a scratch project folder: the same CLI, the same app.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

from stacks.project import ROOT, cdk_synth


class SynthFailed(RuntimeError):
    """`cdk synth` (or its cdk-nag gate) failed; the message carries its output."""


@dataclass(frozen=True)
class StackArtifact:
    """One stack of a cloud assembly: its template, its assets manifest, and where it deploys."""

    name: str
    template_path: Path
    assets_path: Path | None
    account: str | None
    region: str

    @property
    def template(self) -> dict:
        return json.loads(self.template_path.read_text())


def synthesize(outdir: Path, *, context: dict[str, str], project_context: dict | None = None) -> Path:
    """``cdk synth`` into ``outdir``, as `textclf synth` runs it; ``project_context`` replaces cdk.json's context
    (in a scratch copy). The caller's credentials and default account are kept out: accounts come from config."""
    project = ROOT
    if project_context is not None:
        project = outdir.parent / f"{outdir.name}-project"
        project.mkdir(parents=True, exist_ok=True)
        settings = json.loads((ROOT / "cdk.json").read_text())
        settings["context"] = project_context
        (project / "cdk.json").write_text(json.dumps(settings, indent=2))
    extra = {key: value for key, value in context.items() if key != "stage"}
    try:
        cdk_synth(
            context["stage"],
            outdir,
            context=extra,
            project=project,
            without=("CDK_DEFAULT_ACCOUNT", "AWS_PROFILE", "AWS_ACCESS_KEY_ID"),
        )
    except RuntimeError as error:
        raise SynthFailed(str(error)[-4000:]) from error
    return outdir


def context_with_accounts(accounts: dict[str, str], tooling: str) -> dict:
    """cdk.json's context, with each stage (and the delivery pipeline) in its own account."""
    context = copy.deepcopy(json.loads((ROOT / "cdk.json").read_text())["context"])
    for name, account in accounts.items():
        context["stages"][name]["account"] = account
        # The other stages copy its released models; the tooling account resolves releases from its registry.
        others = sorted((set(accounts.values()) | {tooling}) - {account})
        if name == context["delivery"]["model_source_stage"]:
            context["stages"][name]["registry_consumer_accounts"] = others
    context["delivery"]["account"] = tooling
    return context


def stacks(assembly: Path) -> list[StackArtifact]:
    """Every CloudFormation stack in the assembly, nested stage assemblies included."""
    found = []
    manifest = json.loads((assembly / "manifest.json").read_text())
    for name, artifact in manifest.get("artifacts", {}).items():
        if artifact["type"] == "cdk:cloud-assembly":
            found += stacks(assembly / artifact["properties"]["directoryName"])
        elif artifact["type"] == "aws:cloudformation:stack":
            environment = artifact["environment"].split("//", 1)[1]
            account, region = environment.split("/")
            assets = next(
                (
                    assembly / manifest["artifacts"][d]["properties"]["file"]
                    for d in artifact.get("dependencies", [])
                    if manifest["artifacts"].get(d, {}).get("type") == "cdk:asset-manifest"
                ),
                None,
            )
            found.append(
                StackArtifact(
                    name=artifact["properties"].get("stackName", name),
                    template_path=assembly / artifact["properties"]["templateFile"],
                    assets_path=assets,
                    account=None if account == "unknown-account" else account,
                    region=region,
                )
            )
    return found


def stack_named(assembly: Path, display_name: str) -> StackArtifact:
    for artifact in stacks(assembly):
        if artifact.name == display_name:
            return artifact
    raise KeyError(f"{display_name}: not in {assembly} (found {[s.name for s in stacks(assembly)]})")
