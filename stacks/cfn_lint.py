"""cfn-lint's verdict on a synthesized template, as `textclf synth` reports it and `textclf rehearse` enforces it."""

from __future__ import annotations

import hashlib
from pathlib import Path

# cfn-lint 1.58 re-raises its informational I1022 ("prefer Fn::Sub over Fn::Join") as error E3703
# inside CodePipeline action configurations. CDK Pipelines writes each deploy action's RoleArn with
# Fn::Join, which CloudFormation accepts; only this exact message is let through.
SUB_NOT_JOIN = ("E3703", "Prefer using Fn::Sub over Fn::Join with an empty delimiter")

# A template's findings by its content: a rehearsal deploys the same template many times (1 s a lint).
_FOUND: dict[str, tuple[list[str], list[str]]] = {}


def lint(template_path: Path) -> tuple[list[str], list[str]]:
    """cfn-lint's (errors, warnings and notes) for one template, each as "RULE message"."""
    digest = hashlib.sha256(template_path.read_bytes()).hexdigest()
    if digest not in _FOUND:
        _FOUND[digest] = _lint(template_path)
    errors, others = _FOUND[digest]
    return list(errors), list(others)


def _lint(template_path: Path) -> tuple[list[str], list[str]]:
    # Imported here: cfn-lint takes 0.4 s to import, and every `textclf` command imports its callers.
    from cfnlint.api import lint_file

    errors, others = [], []
    for match in lint_file(template_path):
        if (match.rule.id, match.message) == SUB_NOT_JOIN:
            continue
        (errors if match.rule.id.startswith("E") else others).append(f"{match.rule.id} {match.message}")
    return errors, others
