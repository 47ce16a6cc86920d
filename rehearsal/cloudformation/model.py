"""What the engine and every resource type share: resources, stacks, and where a resource is being created.

A resource type is one :class:`ResourceType` entry in its service's module (``RESOURCE_TYPES``): how CloudFormation
creates it, whether an update keeps the physical resource (and what it refreshes then), and how it is deleted.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rehearsal.cloud import Cloud


class DeployError(RuntimeError):
    """CloudFormation would fail this deployment; the message names the resource."""


@dataclass
class Resource:
    logical_id: str
    type: str
    physical_id: str
    attributes: dict[str, str] = field(default_factory=dict)
    properties: dict = field(default_factory=dict)
    retain: bool = False


@dataclass
class Stack:
    name: str
    account: str
    region: str
    template: dict
    resources: dict[str, Resource] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, resource_type: str) -> list[Resource]:
        return [r for r in self.resources.values() if r.type == resource_type]

    def exists_before(self, logical_id: str) -> set[str]:
        """Every resource CloudFormation must have created before ``logical_id`` (transitively)."""
        seen: set[str] = set()
        pending = list(dependencies(self.template["Resources"][logical_id]))
        while pending:
            current = pending.pop()
            if current in seen or current not in self.template["Resources"]:
                continue
            seen.add(current)
            pending += dependencies(self.template["Resources"][current])
        return seen


class Placement:
    """Where resources are being created: the emulated cloud, one account and region, the stack, and the names
    CloudFormation gives what the template leaves unnamed."""

    def __init__(self, cloud: Cloud, *, account: str, region: str) -> None:
        self.cloud, self.account, self.region = cloud, account, region
        self._stack: Stack | None = None

    @property
    def stack(self) -> Stack:
        if self._stack is None:
            raise DeployError("no stack deployed yet: call create() first")
        return self._stack

    @stack.setter
    def stack(self, stack: Stack) -> None:
        """Put a deployed stack back, as CloudFormation's rollback of a failed update does."""
        self._stack = stack

    def generated_name(self, logical_id: str, limit: int = 63, lower: bool = False) -> str:
        """CloudFormation's `<stack>-<logical id>-<suffix>` for resources the template leaves unnamed."""
        suffix = digest(self.stack.name, logical_id, self.account)[:12].upper()
        name = f"{self.stack.name[:20]}-{logical_id[: limit - 35]}-{suffix}"
        return name.lower() if lower else name

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"


# Creates one resource: (placement, logical id, resolved properties) -> Resource.
Creator = Callable[[Placement, str, dict], Resource]
Deleter = Callable[[Placement, Resource], None]
# Refreshes a kept resource from the new template's resolved properties.
Updater = Callable[[Placement, Resource, dict], None]


def keep(placement: Placement, existing: Resource, properties: dict) -> None:
    """An update keeps the physical resource as it is (buckets, keys, groups, log groups)."""


@dataclass(frozen=True)
class ResourceType:
    """How CloudFormation handles one resource type; ``update`` set: an update keeps the resource and calls it."""

    create: Creator
    delete: Deleter | None = None
    update: Updater | None = None


def generic(placement: Placement, logical_id: str, properties: dict) -> Resource:
    """Types the rehearsal only names (alarms, rules, build projects): a physical id and an ARN."""
    name = placement.generated_name(logical_id)
    resource_type = placement.stack.template["Resources"][logical_id]["Type"]
    arn = placement.arn(resource_type.split("::")[1].lower(), name)
    return Resource(logical_id, resource_type, name, {"Arn": arn}, properties)


def digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def stable_uuid(placement: Placement, logical_id: str) -> str:
    value = digest(placement.stack.name, logical_id, placement.account)
    return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:32]}"


def dependencies(resource: dict) -> set[str]:
    found = set(
        resource.get("DependsOn", [])
        if isinstance(resource.get("DependsOn"), list)
        else [resource["DependsOn"]]
        if "DependsOn" in resource
        else []
    )
    _references(resource.get("Properties", {}), found)
    return found


def _references(value: Any, found: set[str]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str) and not inner.startswith("AWS::"):
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(inner[0] if isinstance(inner, list) else inner.split(".")[0])
            elif key == "Fn::Sub":
                text = inner if isinstance(inner, str) else inner[0]
                found.update(
                    name.split(".")[0]
                    for name in re.findall(r"\$\{([^}!][^}]*)\}", text)
                    if not name.startswith("AWS::")
                )
                if isinstance(inner, list):
                    _references(inner[1], found)
            else:
                _references(inner, found)
    elif isinstance(value, list):
        for inner in value:
            _references(inner, found)
