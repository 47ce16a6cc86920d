"""`textclf synth`: synthesize with the real CDK CLI and summarize the cloud assembly."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rehearsal.report import while_silent
from stacks.cfn_lint import lint
from stacks.config import CONFIG_ERROR_PREFIX, ConfigError
from stacks.project import ROOT, cdk_synth

ACKNOWLEDGED = "aws:cdk:acknowledged-rules"
# checkov lives in a venv of its own (Makefile): its pins conflict with the project's.
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


@dataclass
class StackSummary:
    name: str
    resources: Counter
    acknowledged: dict[str, str] = field(default_factory=dict)
    lint_errors: list[str] = field(default_factory=list)
    lint_warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


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


@dataclass(frozen=True)
class CheckovFinding:
    check_id: str
    resource: str  # e.g. AWS::S3::Bucket.StorageAccessLogBucket76E80A12
    template: str
    reason: str = ""  # an allowance's (stacks.checkov.allow)


@dataclass(frozen=True)
class CheckovScan:
    failed: list[CheckovFinding]
    allowed: list[CheckovFinding]
    passed: int


def checkov(template_paths: list[Path]) -> CheckovScan:
    """checkov's CloudFormation checks over the templates, offline; allowed = skipped by a resource's allowance."""
    if not CHECKOV.exists():
        raise RuntimeError(f"{CHECKOV} is missing. Fix: run `make install`.")
    command = [str(CHECKOV), "--framework", "cloudformation", "--output", "json", "--compact", "--skip-download"]
    result = subprocess.run(
        [*command, "--file", *map(str, template_paths)], capture_output=True, text=True, timeout=600
    )
    if result.returncode not in (0, 1) or not result.stdout.strip():
        raise RuntimeError(f"checkov failed to run (exit {result.returncode}): {result.stderr[-2000:]}")
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]

    def findings(kind: str) -> list[CheckovFinding]:
        return [
            CheckovFinding(
                c["check_id"], c["resource"], c["file_path"], (c.get("check_result") or {}).get("suppress_comment", "")
            )
            for report in reports
            for c in report.get("results", {}).get(kind, [])
        ]

    passed = sum(report.get("summary", {}).get("passed", 0) for report in reports)
    return CheckovScan(findings("failed_checks"), findings("skipped_checks"), passed)


def nag_findings(outdir: Path) -> list[dict]:
    report = outdir / "validation-report.json"
    return json.loads(report.read_text())["pluginReports"] if report.exists() else []


def render(summaries: list[StackSummary], findings: list[dict], scan: CheckovScan | None = None) -> str:
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
    if scan is not None:
        lines.append(
            f"checkov: {len(scan.failed)} failed, {scan.passed} passed, {len(scan.allowed)} allowed with reasons"
        )
        lines += [f"  FAILED {f.check_id} {f.resource} ({Path(f.template).name})" for f in scan.failed]
    lines += [f"{s.name}: {note}" for s in summaries for note in s.notes]
    return "\n".join(lines)


def _raise_config_error(output: str) -> None:
    """A setting app.py refused is the user's to fix: its one line, exit 2, not cdk's whole output."""
    for line in output.splitlines():
        if line.startswith(CONFIG_ERROR_PREFIX):
            raise ConfigError(line.removeprefix(CONFIG_ERROR_PREFIX))


def run(args: argparse.Namespace) -> int:
    outdir = (ROOT / args.outdir).resolve()
    print(f"Synthesizing stage(s) {args.stage} offline with the pinned CDK CLI into {outdir} ...", flush=True)
    with while_silent("cdk synth, then cfn-lint and checkov on every template"):
        try:
            cdk_synth(args.stage, outdir)
        except RuntimeError as error:
            _raise_config_error(str(error))
            print(error, file=sys.stderr)
            return 1
        summaries = summarize(outdir)
        findings = nag_findings(outdir)
        scan = checkov(templates(outdir))
    print(render(summaries, findings, scan))
    failed = findings or any(s.lint_errors for s in summaries) or scan.failed
    return 1 if failed else 0
