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


def download_prefix(s3, uri: str, target: Path) -> int:
    """S3Prefix semantics: every object under the prefix, at its path below the prefix's folder."""
    bucket, prefix = split_uri(uri)
    folder = prefix[: prefix.rfind("/") + 1]
    target.mkdir(parents=True, exist_ok=True)
    count = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"].endswith("/"):
                continue
            destination = target / item["Key"][len(folder) :]
            destination.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, item["Key"], str(destination))
            count += 1
    return count


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
