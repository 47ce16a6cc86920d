"""A template's intrinsic functions, resolved as CloudFormation resolves them against what it has created."""

from __future__ import annotations

import re
from typing import Any

from rehearsal.cloud import Cloud
from rehearsal.cloudformation.model import DeployError, Placement, digest
from rehearsal.cloudformation.types import RESOURCE_TYPES

NO_VALUE = object()


class Resolver(Placement):
    """Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select, Fn::Split, Fn::If and Fn::Equals, with the stack's
    parameters (``parameters`` over their defaults) and pseudo parameters."""

    def __init__(self, cloud: Cloud, *, account: str, region: str, parameters: dict[str, str] | None = None) -> None:
        super().__init__(cloud, account=account, region=region)
        self.parameters = parameters or {}

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict):
            if len(value) == 1:
                ((key, inner),) = value.items()
                if key == "Ref" or key.startswith("Fn::"):
                    return self._intrinsic(key, inner)
            resolved = {key: self.resolve(inner) for key, inner in value.items()}
            return {key: inner for key, inner in resolved.items() if inner is not NO_VALUE}
        if isinstance(value, list):
            return [item for item in (self.resolve(inner) for inner in value) if item is not NO_VALUE]
        return value

    def _intrinsic(self, key: str, inner: Any) -> Any:
        if key == "Ref":
            return self.ref(inner)
        if key == "Fn::GetAtt":
            logical_id, attribute = inner if isinstance(inner, list) else inner.split(".", 1)
            return self.get_att(logical_id, attribute)
        if key == "Fn::Join":
            separator, items = inner
            return separator.join(str(item) for item in self.resolve(items))
        if key == "Fn::Sub":
            return self._sub(inner)
        if key == "Fn::Select":
            index, items = self.resolve(inner)
            return items[int(index)]
        if key == "Fn::Split":
            separator, text = self.resolve(inner)
            return text.split(separator)
        if key == "Fn::If":
            condition, when_true, when_false = inner
            return self.resolve(when_true if self.condition(condition) else when_false)
        if key == "Fn::Equals":
            left, right = self.resolve(inner)
            return left == right
        raise DeployError(f"the rehearsal does not resolve {key}")

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.stack.template["Conditions"][name]))

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
            "AWS::StackName": self.stack.name,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account}:stack/{self.stack.name}/"
            f"{digest(self.stack.name, self.account)}",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.stack.template.get("Parameters", {}):
            return self.parameters.get(name, self.stack.template["Parameters"][name].get("Default"))
        if name not in self.stack.resources:
            raise DeployError(f"Ref {name}: not created yet; a missing dependency in the template")
        return self.stack.resources[name].physical_id

    def get_att(self, logical_id: str, attribute: str) -> str:
        resource = self.stack.resources.get(logical_id)
        if resource is None:
            raise DeployError(f"Fn::GetAtt {logical_id}.{attribute}: not created yet")
        if attribute not in resource.attributes:
            if resource.type in RESOURCE_TYPES or resource.type.startswith("Custom::"):
                raise DeployError(f"Fn::GetAtt {logical_id}.{attribute}: {resource.type} has no such attribute")
            # Types the rehearsal only names (alarms, pipelines, build projects): a stable placeholder.
            return f"{resource.physical_id}.{attribute}"
        return resource.attributes[attribute]

    def _sub(self, inner: Any) -> str:
        text, variables = (inner, {}) if isinstance(inner, str) else (inner[0], self.resolve(inner[1]))

        def replace(match: re.Match) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                return str(self.get_att(*name.split(".", 1)))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)
