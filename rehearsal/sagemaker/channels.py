"""SageMaker's own S3 work on a job's behalf, as the job's role: input channels in, outputs and model.tar.gz out."""

from __future__ import annotations

import tarfile
from pathlib import Path
from urllib.parse import urlparse

from rehearsal.sagemaker.pipelines import StepError


def split_uri(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3":
        raise StepError("SageMaker.VALIDATION", f"{uri}: expected an s3:// URI")
    return parsed.netloc, parsed.path.lstrip("/")


def download_prefix(s3, uri: str, target: Path, *, shard: tuple[int, int] | None = None) -> int:
    """S3Prefix semantics: every object under the prefix, at its path below the prefix's folder; with ``shard``
    (host index, host count), only that host's share of them.

    ShardedByS3Key (botocore's S3DataSource documentation): "if the training dataset has N objects and there are M
    instances, each instance gets approximately N/M objects"; which object goes where is not documented: here, by
    key order, round robin. A host may get none, as on SageMaker when the prefix holds fewer objects than hosts.
    """
    bucket, prefix = split_uri(uri)
    folder = prefix[: prefix.rfind("/") + 1]
    target.mkdir(parents=True, exist_ok=True)
    keys = sorted(
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", [])
        if not item["Key"].endswith("/")
    )
    if shard is not None:
        index, count = shard
        keys = keys[index::count]
    for key in keys:
        destination = target / key[len(folder) :]
        destination.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, key, str(destination))
    return len(keys)


def upload_folder(s3, folder: Path, uri: str) -> int:
    bucket, prefix = split_uri(uri)
    prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
    count = 0
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            s3.upload_file(str(path), bucket, prefix + path.relative_to(folder).as_posix())
            count += 1
    return count


def pack_model_dir(model_dir: Path, archive: Path, *, compresslevel: int = 9) -> Path:
    """model.tar.gz with the model directory's contents at its root, as SageMaker writes it after training."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz", compresslevel=compresslevel) as tar:
        for path in sorted(model_dir.iterdir()):
            tar.add(path, arcname=path.name)
    return archive
