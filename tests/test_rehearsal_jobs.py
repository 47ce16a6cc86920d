"""Jobs as SageMaker runs them: the model archive training leaves behind, and the channels each host gets."""

from __future__ import annotations

import tarfile

from rehearsal.sagemaker.channels import download_prefix, pack_model_dir


def test_model_tar_gz_has_the_model_directory_at_its_root(served_model_dir, tmp_path):
    archive = pack_model_dir(served_model_dir, tmp_path / "registry" / "model.tar.gz")
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {"config.json", "model.safetensors", "labels.json", "code/inference.py"} <= names
    assert not any(name.startswith(served_model_dir.name + "/") for name in names)


def test_sharded_by_s3_key_gives_each_host_a_share_and_fully_replicated_gives_each_all(tmp_path):
    """S3DataDistributionType as the training hosts see it: N objects over M hosts, about N/M each, none twice;
    with fewer objects than hosts a host gets none, as on SageMaker."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="data")
        for part in range(5):
            s3.put_object(Bucket="data", Key=f"datasets/train/part-{part}.csv", Body=b"text,label\n")
        shards = [
            sorted(p.name for p in (tmp_path / f"algo-{i}").rglob("*.csv"))
            for i in range(1, 3)
            if download_prefix(s3, "s3://data/datasets/train/", tmp_path / f"algo-{i}", shard=(i - 1, 2))
        ]
        assert shards == [["part-0.csv", "part-2.csv", "part-4.csv"], ["part-1.csv", "part-3.csv"]]
        assert download_prefix(s3, "s3://data/datasets/train/", tmp_path / "all") == 5
        assert download_prefix(s3, "s3://data/datasets/train/part-1", tmp_path / "none", shard=(1, 2)) == 0
