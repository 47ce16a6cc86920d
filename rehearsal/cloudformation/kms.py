"""AWS::KMS::Key: the key and its policy, where the policy engine decides with it."""

from __future__ import annotations

from rehearsal.cloudformation.model import Placement, Resource, ResourceType, keep, stable_uuid
from rehearsal.iam import KeyRecord


def _key(deployment: Placement, logical_id: str, properties: dict) -> Resource:
    key_id = str(stable_uuid(deployment, logical_id))
    arn = deployment.arn("kms", f"key/{key_id}")
    deployment.cloud.directory.keys[arn] = KeyRecord(arn, deployment.account, properties.get("KeyPolicy", {}))
    return Resource(logical_id, "AWS::KMS::Key", key_id, {"Arn": arn, "KeyId": key_id}, properties)


RESOURCE_TYPES = {"AWS::KMS::Key": ResourceType(_key, update=keep)}
