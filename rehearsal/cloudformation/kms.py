"""AWS::KMS::Key: the key and its policy, where the policy engine decides with it."""

from __future__ import annotations

from rehearsal.cloudformation.model import Placement, Resource, ResourceType, stable_uuid
from rehearsal.iam import KeyRecord


def _key(deployment: Placement, logical_id: str, properties: dict) -> Resource:
    key_id = str(stable_uuid(deployment, logical_id))
    arn = deployment.arn("kms", f"key/{key_id}")
    deployment.cloud.directory.keys[arn] = KeyRecord(arn, deployment.account, properties.get("KeyPolicy", {}))
    return Resource(logical_id, "AWS::KMS::Key", key_id, {"Arn": arn, "KeyId": key_id}, properties)


def _new_policy(deployment: Placement, existing: Resource, properties: dict) -> None:
    """An update keeps the key and puts the template's key policy on it (PutKeyPolicy)."""
    arn = existing.attributes["Arn"]
    deployment.cloud.directory.keys[arn] = KeyRecord(arn, deployment.account, properties.get("KeyPolicy", {}))


RESOURCE_TYPES = {"AWS::KMS::Key": ResourceType(_key, update=_new_policy)}
