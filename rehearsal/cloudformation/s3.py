"""AWS::S3::Bucket and its policy, in moto and in the policy engine's directory."""

from __future__ import annotations

from rehearsal.cloudformation.model import DeployError, Placement, Resource, ResourceType, keep
from rehearsal.iam import BucketRecord


def _bucket(deployment: Placement, logical_id: str, properties: dict) -> Resource:
    name = properties.get("BucketName") or deployment.generated_name(logical_id, lower=True)
    directory = deployment.cloud.directory
    if name in directory.buckets:
        raise DeployError(f"{logical_id}: {name} already exists (BucketAlreadyOwnedByYou)")
    deployment.cloud.admin("s3", deployment.account, deployment.region).create_bucket(Bucket=name)
    rules = properties.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
    default = rules[0].get("ServerSideEncryptionByDefault", {}) if rules else {}
    key_arn = default.get("KMSMasterKeyID") if default.get("SSEAlgorithm") == "aws:kms" else None
    directory.buckets[name] = BucketRecord(name, deployment.account, deployment.region, key_arn)
    return Resource(
        logical_id,
        "AWS::S3::Bucket",
        name,
        {
            "Arn": f"arn:aws:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{deployment.region}.amazonaws.com",
        },
        properties,
    )


def _bucket_policy(deployment: Placement, logical_id: str, properties: dict) -> Resource:
    deployment.cloud.directory.buckets[properties["Bucket"]].policy = properties["PolicyDocument"]
    return Resource(logical_id, "AWS::S3::BucketPolicy", properties["Bucket"], {}, properties)


def _delete_bucket(deployment: Placement, resource: Resource) -> None:
    s3 = deployment.cloud.admin("s3", deployment.account, deployment.region)
    if s3.list_object_versions(Bucket=resource.physical_id).get("Versions"):
        raise DeployError(f"{resource.logical_id}: DELETE_FAILED: the bucket is not empty")
    s3.delete_bucket(Bucket=resource.physical_id)
    deployment.cloud.directory.buckets.pop(resource.physical_id, None)


RESOURCE_TYPES = {
    "AWS::S3::Bucket": ResourceType(_bucket, delete=_delete_bucket, update=keep),
    "AWS::S3::BucketPolicy": ResourceType(_bucket_policy),
}
