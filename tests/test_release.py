"""The release step: the newest approved package is what ships; a rejection rolls back to the one before."""

from __future__ import annotations

import json

import pytest

from delivery_steps import release
from stacks.config import ConfigError
from stacks.delivery.config import Release


def resolve(tmp_path, group: str = "textclf-dev") -> dict:
    out = tmp_path / "release" / "release.json"
    assert release.main(["resolve", "--group", group, "--region", "us-east-1", "--out", str(out)]) == 0
    return json.loads(out.read_text())


def test_before_any_approval_the_release_serves_nothing(mocked_registry, tmp_path):
    mocked_registry.register(0.91)  # pending manual approval
    record = resolve(tmp_path)
    assert record["model_package_arn"] is None
    assert Release.read(tmp_path / "release" / "release.json").model_package_arn is None


def test_the_newest_approved_package_is_released(mocked_registry, tmp_path):
    mocked_registry.register(0.90, status="Approved")
    newest = mocked_registry.register(0.91, status="Approved")
    mocked_registry.register(0.95)  # registered later, but not approved
    record = resolve(tmp_path)
    assert (record["model_package_arn"], record["version"]) == (newest, 2)
    released = Release.read(tmp_path / "release" / "release.json")
    assert released.model_package_arn == newest
    # What each stage needs to serve its own verified copy, with no lookup at synth.
    assert (released.model_data_url, released.model_data_sha256, released.image) == (
        "s3://artifacts/model.tar.gz",
        "ab" * 32,
        mocked_registry.IMAGE,
    )


def test_a_package_without_the_evaluated_digest_is_not_released(mocked_registry, tmp_path, capsys):
    mocked_registry.register(0.91, status="Approved", sha256=None)
    code = release.main(
        ["resolve", "--group", "textclf-dev", "--region", "us-east-1", "--out", str(tmp_path / "r.json")]
    )
    assert code == 1
    assert "ModelDataSha256" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_rejecting_the_served_package_rolls_back_to_the_previous_approved_one(mocked_registry, tmp_path):
    previous = mocked_registry.register(0.90, status="Approved")
    served = mocked_registry.register(0.91, status="Approved")
    assert resolve(tmp_path)["model_package_arn"] == served
    mocked_registry.sagemaker.update_model_package(ModelPackageArn=served, ModelApprovalStatus="Rejected")
    assert resolve(tmp_path)["model_package_arn"] == previous


def test_the_pipeline_names_the_group_by_an_arn_both_calls_accept():
    # The pipeline passes the group's ARN so that a registry in another account works. moto resolves
    # only names, so the ARN is checked against botocore's own model of the two operations.
    import re

    import botocore.session
    from aws_cdk import App, Stack

    from stacks.delivery.pipeline import RegistrySource

    source = RegistrySource(group_name="textclf-dev", account="111111111111", region="us-east-1")
    joined = Stack(App(), "Bare").resolve(source.arn("model-package-group/textclf-dev"))["Fn::Join"][1]
    arn = "".join(part if isinstance(part, str) else "aws" for part in joined)  # the partition
    model = botocore.session.get_session().get_service_model("sagemaker")
    for operation in ("DescribeModelPackageGroup", "ListModelPackages"):
        shape = model.operation_model(operation).input_shape.members["ModelPackageGroupName"]
        assert re.fullmatch(shape.metadata["pattern"], arn), (operation, arn)


def test_a_missing_group_fails_the_step_with_its_name(mocked_registry, tmp_path, capsys):
    code = release.main(
        ["resolve", "--group", "no-such-group", "--region", "us-east-1", "--out", str(tmp_path / "r.json")]
    )
    assert code == 1
    assert "no-such-group" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists(), "no release file, so synth cannot run with a wrong release"


@pytest.mark.parametrize(
    "content, message",
    [
        ("not json", "release: cannot read"),
        ('{"model_package_arn": "arn:aws:sagemaker:us-east-1:1:model-package/g"}', "release.model_package_arn"),
        (
            '{"model_package_arn": "arn:aws:sagemaker:us-east-1:111111111111:model-package/g/1", "model_data_url": '
            '"s3://bucket/k", "model_data_sha256": "x", "image": "i"}',
            "release.model_data_sha256",
        ),
    ],
)
def test_a_bad_release_file_fails_synth_naming_the_fix(tmp_path, content, message):
    path = tmp_path / "release.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as error:
        Release.read(path)
    assert "Fix:" in str(error.value)


def test_the_delivery_steps_import_nothing_their_codebuild_steps_do_not_install():
    # ResolveRelease installs only boto3; the release shares the registry client and the contract with the
    # containers, so both must stay leaf modules that import nothing but the standard library.
    import subprocess
    import sys
    from pathlib import Path

    blocked = (
        "import sys\nfor m in ('aws_cdk', 'constructs', 'cdk_nag', 'torch', 'transformers'): sys.modules[m] = None\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", blocked + "import delivery_steps.release, delivery_steps.smoke"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert result.returncode == 0, result.stderr
