"""`textclf synth`: synthesize with the real CDK CLI and summarize the cloud assembly."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacks.project import ROOT, cdk_synth

ACKNOWLEDGED = "aws:cdk:acknowledged-rules"


@dataclass
class StackSummary:
    name: str
    resources: Counter
    acknowledged: dict[str, str] = field(default_factory=dict)
    lint_errors: list[str] = field(default_factory=list)
    lint_warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# cfn-lint 1.58 re-raises its informational I1022 ("prefer Fn::Sub over Fn::Join") as error E3703
# inside CodePipeline action configurations. CDK Pipelines writes each deploy action's RoleArn with
# Fn::Join, which CloudFormation accepts; only this exact message is let through.
SUB_NOT_JOIN = ("E3703", "Prefer using Fn::Sub over Fn::Join with an empty delimiter")


def lint(template_path: Path) -> tuple[list[str], list[str]]:
    """cfn-lint's (errors, warnings and notes) for one template, each as "RULE message"."""
    from cfnlint.api import lint_file

    errors, others = [], []
    for match in lint_file(template_path):
        if (match.rule.id, match.message) == SUB_NOT_JOIN:
            continue
        (errors if match.rule.id.startswith("E") else others).append(f"{match.rule.id} {match.message}")
    return errors, others


def templates(outdir: Path) -> list[Path]:
    """Every template of a cloud assembly: top-level stacks (the delivery pipeline) and each stage's."""
    return sorted([*outdir.glob("*.template.json"), *outdir.glob("assembly-*/*.template.json")], key=_stage_order)


def summarize(outdir: Path) -> list[StackSummary]:
    summaries = []
    for template_path in templates(outdir):
        template = json.loads(template_path.read_text())
        metadata_path = template_path.with_name(template_path.name.replace(".template.json", ".metadata.json"))
        metadata = json.loads(metadata_path.read_text()) if metadata_path.exists() else {}
        summary = StackSummary(
            name=_name(template_path),
            resources=Counter(r["Type"] for r in template["Resources"].values()),
            acknowledged=_acknowledged(metadata),
            notes=[str(data) for _, data in _entries(metadata, "aws:cdk:info")],
        )
        summary.lint_errors, summary.lint_warnings = lint(template_path)
        summaries.append(summary)
    return summaries


def _name(template_path: Path) -> str:
    """``Dev`` for assembly-Dev/…, ``Delivery-Dev`` for a stage inside the pipeline, ``Delivery`` for its stack."""
    if template_path.parent.name.startswith("assembly-"):
        return template_path.parent.name.removeprefix("assembly-")
    return template_path.name.removesuffix(".template.json")


def _stage_order(template_path: Path) -> tuple[int, str]:
    from stacks.config import STAGE_NAMES

    stage = _name(template_path).split("-")[-1].lower()
    return (STAGE_NAMES.index(stage) if stage in STAGE_NAMES else -1, _name(template_path))


def _entries(metadata: dict, kind: str) -> list[tuple[str, Any]]:
    """(construct path, data) of every metadata entry of one kind in a stack's metadata.json."""
    return [(path, entry["data"]) for path, entries in metadata.items() for entry in entries if entry["type"] == kind]


def _acknowledged(metadata: dict) -> dict[str, str]:
    return {
        f"{path} {rule.removeprefix('Annotation::')}": reason
        for path, data in _entries(metadata, ACKNOWLEDGED)
        for rule, reason in data.items()
    }


def nag_findings(outdir: Path) -> list[dict]:
    report = outdir / "validation-report.json"
    return json.loads(report.read_text())["pluginReports"] if report.exists() else []


def render(summaries: list[StackSummary], findings: list[dict]) -> str:
    types = sorted({t for s in summaries for t in s.resources})
    lines = ["| resource type | " + " | ".join(s.name for s in summaries) + " |", "|---|" + "---:|" * len(summaries)]
    lines += [f"| {t} | " + " | ".join(str(s.resources.get(t, 0)) for s in summaries) + " |" for t in types]
    lines.append("| **total** | " + " | ".join(str(sum(s.resources.values())) for s in summaries) + " |")
    lines.append("")
    lines.append(
        f"cdk-nag AwsSolutions: {len(findings)} unsuppressed findings; acknowledged with reasons: "
        + ", ".join(f"{s.name} {len(s.acknowledged)}" for s in summaries)
    )
    lines.append(
        "cfn-lint: "
        + ", ".join(f"{s.name} {len(s.lint_errors)} errors / {len(s.lint_warnings)} warnings" for s in summaries)
    )
    lines += [f"{s.name}: {note}" for s in summaries for note in s.notes]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    outdir = (ROOT / args.outdir).resolve()
    print(f"Synthesizing stage(s) {args.stage} offline with the pinned CDK CLI into {outdir} ...", flush=True)
    try:
        cdk_synth(args.stage, outdir)
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 1
    summaries = summarize(outdir)
    findings = nag_findings(outdir)
    print(render(summaries, findings))
    failed = findings or any(s.lint_errors for s in summaries)
    return 1 if failed else 0
