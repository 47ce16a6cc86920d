"""`cdk deploy`, rehearsed: a template's resources created in dependency order, updated and deleted.

The template is the one `cdk synth` wrote, intrinsics and all. Resources are created in an order
CloudFormation could choose: a resource waits only for what it references (Ref, Fn::GetAtt,
Fn::Sub) or names in DependsOn, so anything else may not exist yet when it is created. That is
how a missing dependency shows up here as it would on AWS (see ``Stack.exists_before``).

Each resource type is created, kept on update and deleted as its service's module says
(``rehearsal.cloudformation.types``); what CloudFormation would create is recorded where the rest of the
rehearsal looks: buckets, keys, the group and the registry in moto; roles, policies, bucket and key policies
in :class:`rehearsal.iam.Directory`. Everything else gets a physical id and attributes only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from rehearsal.cloud import Cloud
from rehearsal.cloudformation.intrinsics import Resolver
from rehearsal.cloudformation.model import (
    DeployError,
    Resource,
    Stack,
    dependencies,
    generic,
)
from rehearsal.cloudformation.requests import check_requests
from rehearsal.cloudformation.types import RESOURCE_TYPES

# A create step given the whole deployment, as the overrides are (custom resources read the stack id; the
# endpoint checks its role against what the stack created before it).
DeploymentCreator = Callable[["Deployment", str, dict], Resource]


class Deployment(Resolver):
    """One stack's create, update and delete, against one account and region of the emulated cloud.

    ``creators`` replace the create step of a type (by type, or ``Custom::`` for every custom resource).
    """

    def __init__(
        self,
        cloud: Cloud,
        *,
        account: str,
        region: str,
        creators: Mapping[str, DeploymentCreator] | None = None,
        parameters: dict[str, str] | None = None,
    ) -> None:
        super().__init__(cloud, account=account, region=region, parameters=parameters)
        self.creators: dict[str, DeploymentCreator] = {
            **{name: t.create for name, t in RESOURCE_TYPES.items()},
            **(creators or {}),
        }

    # ---- create -----------------------------------------------------------------------------------
    def create(self, name: str, template: dict) -> Stack:
        self._stack = Stack(name, self.account, self.region, template)
        for logical_id in self._order(template["Resources"]):
            definition = template["Resources"][logical_id]
            if definition["Type"] != "AWS::CDK::Metadata":
                self._create_one(logical_id, definition)
        self.stack.outputs = {key: self.resolve(output["Value"]) for key, output in template.get("Outputs", {}).items()}
        return self.stack

    def _create_one(self, logical_id: str, definition: dict) -> None:
        properties = self.resolve(definition.get("Properties", {}))
        kind = "Custom::" if definition["Type"].startswith("Custom::") else definition["Type"]
        creator = self.creators.get(kind, generic)
        check_requests(self, logical_id, definition["Type"], properties)
        try:
            resource = creator(self, logical_id, properties)
        except DeployError:
            raise
        except Exception as error:
            raise DeployError(
                f"{self.stack.name}/{logical_id} ({definition['Type']}): CREATE_FAILED: {error}"
            ) from error
        resource.retain = definition.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate")
        self.stack.resources[logical_id] = resource

    @staticmethod
    def _order(resources: dict) -> list[str]:
        ordered: list[str] = []
        state: dict[str, int] = {}

        def visit(logical_id: str) -> None:
            if state.get(logical_id) == 2:
                return
            if state.get(logical_id) == 1:
                raise DeployError(f"circular dependency at {logical_id}")
            state[logical_id] = 1
            for dependency in sorted(dependencies(resources[logical_id])):
                if dependency in resources:
                    visit(dependency)
            state[logical_id] = 2
            ordered.append(logical_id)

        for logical_id in resources:
            visit(logical_id)
        return ordered

    # ---- update -----------------------------------------------------------------------------------
    def update(self, template: dict) -> Stack:
        """Deploy a new template over the stack: new resources are created, changed ones updated, gone ones deleted.

        Stateful resources (buckets, keys, roles, the group) keep their physical resource; policies are
        replaced; everything else is re-created from its new properties, as a replacement would. If a
        resource fails, what this update added is deleted again, as CloudFormation's rollback does; the
        caller puts the deployed stack back (``stack`` setter).
        """
        old = self.stack
        try:
            return self._update(old, template)
        except DeployError:
            for resource in reversed(list(self.stack.resources.values())):
                if resource.logical_id not in old.resources:
                    self._delete_one(resource)
            raise

    def _update(self, old: Stack, template: dict) -> Stack:
        self._stack = Stack(old.name, self.account, self.region, template)
        for logical_id in self._order(template["Resources"]):
            definition = template["Resources"][logical_id]
            existing = old.resources.get(logical_id)
            if definition["Type"] == "AWS::CDK::Metadata":
                continue
            kind = RESOURCE_TYPES.get(existing.type) if existing is not None else None
            if existing is not None and kind is not None and kind.update is not None:
                properties = self.resolve(definition.get("Properties", {}))
                check_requests(self, logical_id, definition["Type"], properties)
                kind.update(self, existing, properties)
                existing.properties = properties
                self.stack.resources[logical_id] = existing
                continue
            if existing is not None:
                self._delete_one(existing)  # replaced: the old one goes first
            self._create_one(logical_id, definition)
        for logical_id, resource in old.resources.items():
            if logical_id not in self.stack.resources and not resource.retain:
                self._delete_one(resource)
        self.stack.outputs = {key: self.resolve(output["Value"]) for key, output in template.get("Outputs", {}).items()}
        return self.stack

    # ---- delete -----------------------------------------------------------------------------------
    def delete(self) -> list[str]:
        """Delete what is not retained, in reverse order; returns the retained logical ids."""
        retained = []
        for resource in reversed(list(self.stack.resources.values())):
            if resource.retain:
                retained.append(resource.logical_id)
                continue
            self._delete_one(resource)
        return retained

    def _delete_one(self, resource: Resource) -> None:
        kind = RESOURCE_TYPES.get(resource.type)
        if kind is not None and kind.delete is not None:
            kind.delete(self, resource)
