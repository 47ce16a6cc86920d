"""The release step: the newest approved package is what ships; a rejection rolls back to the one before."""

from __future__ import annotations

import json

import pytest

from delivery_steps import release
from stacks.config import ConfigError
from stacks.delivery.config import Release
from training import contract


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


def test_the_release_carries_the_packages_probe_set_each_probe_once(mocked_registry, tmp_path):
    probes = [("positive", "a moving, funny film"), ("negative", "a dull, joyless mess")]
    values = [contract.encode_probe(*probes[i % 2]) for i in range(contract.PROBE_COUNT - 1)] + [contract.NO_PROBE]
    metadata = {contract.probe_metadata_name(i): value for i, value in enumerate(values)}
    mocked_registry.register(0.91, status="Approved", metadata=metadata)
    record = resolve(tmp_path)
    assert record["probes"] == [list(p) for p in probes]
    assert Release.read(tmp_path / "release" / "release.json").probes == tuple(probes)


def test_a_package_whose_evaluation_found_no_probe_releases_without_one(mocked_registry, tmp_path):
    mocked_registry.register(0.91, status="Approved")  # every probe value NO_PROBE, as evaluate.py writes it
    assert resolve(tmp_path)["probes"] == []


@pytest.mark.parametrize(
    "taken_off", [(contract.probe_metadata_name(0),), ("MonitorLength",), tuple(contract.MONITOR_METADATA)]
)
def test_a_package_whose_probes_or_baseline_were_taken_off_is_not_released(
    mocked_registry, tmp_path, capsys, taken_off
):
    """Issue 45, finding 5: stripped after evaluation (the registry's policy refuses that now; an older package may
    still lack them), it would serve with no probe or drift alarm. The step fails, naming what is missing."""
    mocked_registry.register(0.91, status="Approved", metadata=MONITOR_METADATA, without=taken_off)
    code = release.main(
        ["resolve", "--group", mocked_registry.GROUP, "--region", "us-east-1", "--out", str(tmp_path / "r.json")]
    )
    error = capsys.readouterr().err
    assert code == 1 and taken_off[0] in error and "Fix: run the training pipeline again" in error
    assert not (tmp_path / "r.json").exists()


MONITOR_METADATA = {
    "MonitorClassMix": "0.4800 0.5200",
    "MonitorLength": "0.3000 0.5000 0.2000 0.0000 0.0000 0.0000 0.0000 0.0000",
    "MonitorTopScore": "0.9012",
}


def test_the_release_carries_the_packages_monitor_baseline_to_synth(mocked_registry, tmp_path):
    mocked_registry.register(0.91, status="Approved", metadata=MONITOR_METADATA)
    record = resolve(tmp_path)
    assert record["monitor_baseline"] == {
        "class_mix": [0.48, 0.52],
        "length": [0.3, 0.5, 0.2, 0.0, 0.0, 0.0, 0.0, 0.0],
        "mean_score": 0.9012,
    }
    baseline = Release.read(tmp_path / "release" / "release.json").monitor_baseline
    assert baseline is not None and baseline.class_mix == (0.48, 0.52) and baseline.mean_score == 0.9012


@pytest.mark.parametrize("stored", [{}, {**MONITOR_METADATA, "MonitorClassMix": contract.NO_BASELINE}])
def test_a_package_whose_evaluation_stored_no_baseline_releases_without_drift_monitoring(
    mocked_registry, tmp_path, stored
):
    mocked_registry.register(0.91, status="Approved", metadata=stored)
    assert resolve(tmp_path)["monitor_baseline"] is None
    assert Release.read(tmp_path / "release" / "release.json").monitor_baseline is None


def test_a_baseline_that_is_not_shares_fails_the_step_naming_its_metadata(mocked_registry, tmp_path, capsys):
    mocked_registry.register(0.91, status="Approved", metadata={**MONITOR_METADATA, "MonitorLength": "0.9 0.9"})
    code = release.main(
        ["resolve", "--group", mocked_registry.GROUP, "--region", "us-east-1", "--out", str(tmp_path / "r.json")]
    )
    error = capsys.readouterr().err
    assert code == 1 and "MonitorLength" in error and "Fix:" in error


def test_a_release_file_whose_baseline_has_the_wrong_buckets_fails_synth_naming_the_field(tmp_path):
    record = {
        "model_package_arn": "arn:aws:sagemaker:us-east-1:111122223333:model-package/textclf-dev/3",
        "model_data_url": "s3://bucket/model.tar.gz",
        "model_data_sha256": "ab" * 32,
        "image": "image:1",
        "monitor_baseline": {"class_mix": [0.5, 0.5], "length": [0.5, 0.5], "mean_score": 0.9},
    }
    (tmp_path / "r.json").write_text(json.dumps(record))
    with pytest.raises(ConfigError, match="release.monitor_baseline: expected 8 length shares"):
        Release.read(tmp_path / "r.json")


def test_a_probe_that_is_not_one_fails_the_step_naming_its_metadata(mocked_registry, tmp_path, capsys):
    mocked_registry.register(0.91, status="Approved", metadata={contract.probe_metadata_name(3): "bm90IGEgcHJvYmU="})
    code = release.main(
        ["resolve", "--group", mocked_registry.GROUP, "--region", "us-east-1", "--out", str(tmp_path / "r.json")]
    )
    assert code == 1 and "Probe04" in capsys.readouterr().err


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


GOOD_RELEASE = {
    "model_package_arn": "arn:aws:sagemaker:us-east-1:111111111111:model-package/g/1",
    "model_data_url": "s3://bucket/k",
    "model_data_sha256": "ab" * 32,
    "image": "i",
}


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
        (json.dumps({**GOOD_RELEASE, "probes": "a film"}), "release.probes: must list at most 24"),
        (json.dumps({**GOOD_RELEASE, "probes": [["positive"]]}), r"release.probes: \['positive'\] is not a"),
        (json.dumps({**GOOD_RELEASE, "probes": [["positive", "long " * 60]]}), "release.probes: 'long long"),
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


# ---- issue 30: what a stage takes from a release is what the training pipeline registers -------------------------
ACCOUNT = "111111111111"
DEV_OUTPUTS = f"s3://textclf-dev-models-{ACCOUNT}-us-east-1/training-jobs/job-7/output/model.tar.gz"


def registered(**changes) -> dict:
    """A release of dev's registry as the training pipeline registers it, with ``changes``."""
    from stacks.images import images_for

    record = {
        "model_package_arn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model-package/textclf-dev/7",
        "model_data_url": DEV_OUTPUTS,
        "model_data_sha256": "5e" * 32,
        "image": images_for("us-east-1").inference,
        "environment": {
            "SAGEMAKER_PROGRAM": "inference.py",
            "SAGEMAKER_REGION": "us-east-1",
            "TEXTCLF_INT8_VERIFIED": "false",
        },
    }
    for key, value in changes.items():
        if key == "environment":
            record["environment"] = {**record["environment"], **value}
        else:
            record[key] = value
    return record


def synth_prod_serving(cdk_context, tmp_path, record: dict) -> None:
    """`cdk synth -c stage=prod -c release=<file>` in process, as far as the stage's construction."""
    from aws_cdk import App

    import app as cdk_app

    path = tmp_path / "release.json"
    path.write_text(json.dumps(record))
    app = App(context={**cdk_context, "stage": "prod", "release": str(path)}, outdir=str(tmp_path / "out"))
    cdk_app.build_app(app)


@pytest.mark.parametrize(
    "changes, message",
    [
        # The inference toolkit would load model and code from the Hub at every cold start, ignoring the copy.
        ({"environment": {"HF_MODEL_ID": "someone/model"}}, r"release\.environment\.HF_MODEL_ID: not a variable"),
        ({"environment": {"HF_TRUST_REMOTE_CODE": "true"}}, r"release\.environment\.HF_TRUST_REMOTE_CODE"),
        # The endpoint's limit on texts per request, raised past what the alarms and memory were sized for.
        ({"environment": {"TEXTCLF_MAX_BATCH": "100000"}}, r"release\.environment\.TEXTCLF_MAX_BATCH"),
        ({"environment": {"SAGEMAKER_PROGRAM": "evil.py"}}, r"release\.environment\.SAGEMAKER_PROGRAM: 'evil\.py'"),
        ({"image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/mine:latest"}, r"release\.image: not the inference"),
        # Prod's captured requests, in the same account: the copy role would have read them.
        (
            {"model_data_url": f"s3://textclf-prod-models-{ACCOUNT}-us-east-1/training-jobs/x/model.tar.gz"},
            r"release\.model_data_url: not a training output of the source stage",
        ),
        (
            {"model_data_url": f"s3://textclf-dev-models-{ACCOUNT}-us-east-1/released-models/x/model.tar.gz"},
            r"release\.model_data_url",
        ),
        (
            {"model_package_arn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model-package/other-dev/1"},
            r"release\.model_package_arn: its group 'other-dev' is not a registry of this project",
        ),
    ],
)
def test_a_release_carrying_what_the_pipeline_never_registers_fails_synth_naming_it(
    cdk_context, tmp_path, changes, message
):
    with pytest.raises(ConfigError, match=message) as error:
        synth_prod_serving(cdk_context, tmp_path, registered(**changes))
    assert "Fix: reject this package" in str(error.value) or "Fix: release a package" in str(error.value)


def test_the_registered_release_synthesizes_and_the_allow_list_is_what_the_pipeline_registers(cdk_context, tmp_path):
    from stacks.delivery.config import released_environment
    from stacks.pipeline_definition import serving_environment

    synth_prod_serving(cdk_context, tmp_path, registered())
    assert set(serving_environment(region="us-east-1", int8_verified="false")) == set(released_environment("x"))


def test_the_approver_sees_image_environment_model_data_and_digest():
    line = release.summary(registered())
    for value in ("textclf-dev/7", "huggingface-pytorch-inference:", "SAGEMAKER_PROGRAM=inference.py", DEV_OUTPUTS):
        assert value in line
    assert "5e" * 32 in line
    # Issue 45, finding 5: what will watch it, so that a release with no probe or drift alarm is seen as one.
    assert "0 probe(s) (no probe alarm); no drift baseline (no drift alarms)" in line
    guarded = release.summary(
        registered(
            probes=[["positive", "a moving, funny film"], ["negative", "a dull, joyless mess"]],
            monitor_baseline={"class_mix": [0.48, 0.52], "length": [0.3, 0.5, 0.2, 0, 0, 0, 0, 0], "mean_score": 0.9},
        )
    )
    assert "2 probe(s); drift baseline class mix 0.48 0.52, mean top score 0.90" in guarded
    assert release.summary({"model_package_arn": None}) == "no model (no package is approved yet)"
    assert len(release.summary(registered(environment={f"X{i}": "y" * 50 for i in range(30)}))) <= release.MAX_SUMMARY
