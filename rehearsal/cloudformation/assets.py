"""What `cdk bootstrap` leaves in an account, and what `cdk deploy` does first: publish the stack's file assets to the
account's bootstrap bucket."""

from __future__ import annotations

import io
import json
import zipfile
from functools import cache
from pathlib import Path

from rehearsal.cloud import Cloud
from rehearsal.iam import BucketRecord
from stacks.boundary import QUALIFIER, boundary_name, boundary_policy
from stacks.config import load_stages, stage_stack_name
from stacks.delivery.config import DELIVERY_STACK_ID
from stacks.project import ROOT

# The pinned CDK CLI's own bootstrap template: what `cdk bootstrap` deploys.
BOOTSTRAP_TEMPLATE = ROOT / "node_modules" / "aws-cdk" / "lib" / "api" / "bootstrap" / "bootstrap-template.yaml"


def bootstrap(cloud: Cloud, account: str, region: str) -> None:
    """What docs/delivery.md has each account do once: create the project's permissions boundary (as `textclf
    bootstrap-policy` writes it), then `cdk bootstrap --custom-permissions-boundary` with it. Every role of our
    templates names that boundary, and every request a role makes is decided with it."""
    name, document = project_boundary()
    cloud.directory.managed_policies.setdefault(f"arn:aws:iam::{account}:policy/{name}", document)


@cache
def project_boundary() -> tuple[str, dict]:
    """The boundary's name and document for cdk.json's stages and the delivery pipeline."""
    configs = load_stages(json.loads((ROOT / "cdk.json").read_text())["context"]["stages"], "all")
    (prefix,) = {config.name_prefix for config in configs}
    stack_names = [*(stage_stack_name(config.name) for config in configs), DELIVERY_STACK_ID]
    return boundary_name(prefix), boundary_policy(prefix, stack_names, DELIVERY_STACK_ID)


def publish_assets(cloud: Cloud, assets_file: Path, *, account: str, region: str) -> None:
    """What `cdk deploy` does first: upload each file asset to the bootstrap bucket (created if new)."""
    manifest = json.loads(assets_file.read_text())
    for asset in manifest.get("files", {}).values():
        source = (assets_file.parent / asset["source"]["path"]).resolve()
        body = _zip_directory(source) if asset["source"].get("packaging") == "zip" else source.read_bytes()
        for destination in asset["destinations"].values():
            bucket = _pseudo(destination["bucketName"], account, region)
            s3 = cloud.admin("s3", account, destination.get("region", region))
            _ensure_bucket(cloud, s3, bucket, account, region)
            s3.put_object(Bucket=bucket, Key=_pseudo(destination["objectKey"], account, region), Body=body)


def bootstrap_bucket(account: str, region: str) -> str:
    return f"cdk-{QUALIFIER}-assets-{account}-{region}"


def _ensure_bucket(cloud: Cloud, s3, bucket: str, account: str, region: str) -> None:
    if bucket not in cloud.directory.buckets:
        s3.create_bucket(Bucket=bucket)
        # The bootstrap bucket is encrypted with the AWS-managed S3 key, which every principal of the
        # account may use through S3: no key policy to check.
        cloud.directory.buckets[bucket] = BucketRecord(bucket, account, region)


def _pseudo(text: str, account: str, region: str) -> str:
    return (
        text.replace("${AWS::AccountId}", account).replace("${AWS::Region}", region).replace("${AWS::Partition}", "aws")
    )


def _zip_directory(source: Path) -> bytes:
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(source).as_posix())
    return raw.getvalue()
