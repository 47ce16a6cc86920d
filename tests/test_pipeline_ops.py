"""`textclf pipeline`: the operator commands, against moto's SageMaker and S3."""

from __future__ import annotations

import json

import pytest

from cli.main import main


def test_start_runs_the_stage_pipeline_with_overridden_parameters(mocked_registry, capsys):
    sagemaker = mocked_registry.sagemaker
    sagemaker.create_pipeline(
        PipelineName="textclf-dev-training",
        RoleArn="arn:aws:iam::123456789012:role/p",
        PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []}),
    )
    assert main(["pipeline", "start", "--stage", "dev", "--param", "Epochs=1", "--param", "Labels=a,b"]) == 0
    arn = capsys.readouterr().out.split()[-1]
    assert ":pipeline/textclf-dev-training/execution/" in arn
    recorded = sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)["PipelineParameters"]
    assert recorded == [{"Name": "Epochs", "Value": "1"}, {"Name": "Labels", "Value": "a,b"}]


def _distillation_pipeline(sagemaker) -> None:
    sagemaker.create_pipeline(
        PipelineName="textclf-dev-distillation",
        RoleArn="arn:aws:iam::123456789012:role/p",
        PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []}),
    )


def test_teacher_package_starts_distillation_with_its_model_data(mocked_registry, capsys):
    _distillation_pipeline(mocked_registry.sagemaker)
    teacher = mocked_registry.register(0.92, status="Approved")
    assert main(["pipeline", "start", "--teacher-package", "1", "--param", "Epochs=2"]) == 0
    arn = capsys.readouterr().out.split()[-1]
    assert ":pipeline/textclf-dev-distillation/execution/" in arn
    recorded = mocked_registry.sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)[
        "PipelineParameters"
    ]
    assert recorded == [
        {"Name": "Epochs", "Value": "2"},
        {"Name": "TeacherModelDataUrl", "Value": "s3://artifacts/model.tar.gz"},
        {"Name": "TeacherPackageArn", "Value": teacher},
    ]


def test_only_an_approved_package_may_teach(mocked_registry, capsys):
    _distillation_pipeline(mocked_registry.sagemaker)
    mocked_registry.register(0.92)
    assert main(["pipeline", "start", "--teacher-package", "1"]) == 2
    error = capsys.readouterr().err
    assert "--teacher-package:" in error and "is PendingManualApproval" in error and "Fix: approve it" in error


def test_bad_parameter_syntax_names_the_flag(mocked_registry, capsys):
    assert main(["pipeline", "start", "--param", "Epochs"]) == 2
    assert "--param: 'Epochs' is not NAME=VALUE" in capsys.readouterr().err


def test_an_undeclared_parameter_is_refused_with_the_pipelines_own_names(mocked_registry, capsys):
    """The names are the stacks' declarations (stacks.pipeline_definition), checked before any call."""
    from stacks.pipeline_definition import parameter_names

    assert main(["pipeline", "start", "--stage", "dev", "--param", "Epochs=2", "--param", "Epoch=2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "textclf pipeline start: --param Epoch: the training pipeline has no such parameter (did you mean 'Epochs'?). "
        f"Fix: use one of {', '.join(sorted(parameter_names(distillation=False)))}."
    )
    # A distillation parameter is the distillation pipeline's, and --teacher-package starts that one.
    assert main(["pipeline", "start", "--param", "StudentLayers=0,2"]) == 2
    assert "the training pipeline has no such parameter. Fix: use one of" in capsys.readouterr().err
    assert main(["pipeline", "start", "--teacher-package", "1", "--param", "StudentLayer=0,2"]) == 2
    assert "the distillation pipeline has no such parameter (did you mean 'StudentLayers'?)" in capsys.readouterr().err


def test_packages_lists_versions_with_their_metrics(mocked_registry, capsys):
    mocked_registry.register(0.91, status="Approved")
    mocked_registry.register(None)
    assert main(["pipeline", "packages", "--stage", "dev"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "ARN" not in line]
    assert [row.split(" | ")[1:4] for row in rows] == [
        ["PendingManualApproval", "-", "-"],
        ["Approved", "0.9100", "0.9000"],
    ]


def test_approve_and_reject_by_version_or_arn(mocked_registry, capsys):
    sagemaker = mocked_registry.sagemaker
    first, second = mocked_registry.register(0.9), mocked_registry.register(0.8)
    assert main(["pipeline", "approve", "1", "--reason", "beats prod"]) == 0
    assert main(["pipeline", "reject", second]) == 0
    assert sagemaker.describe_model_package(ModelPackageName=first)["ModelApprovalStatus"] == "Approved"
    assert sagemaker.describe_model_package(ModelPackageName=second)["ModelApprovalStatus"] == "Rejected"


def test_unknown_or_foreign_packages_fail_with_the_fix(mocked_registry, capsys):
    assert main(["pipeline", "approve", "7"]) == 2
    assert "no version 7 in textclf-dev" in capsys.readouterr().err
    foreign = "arn:aws:sagemaker:us-east-1:123456789012:model-package/textclf-prod/1"
    assert main(["pipeline", "approve", foreign, "--stage", "dev"]) == 2
    assert "is not in this stage's group textclf-dev" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("requested", "problem"),
    [("ml.p3.2xlarge", "ml.p3.2xlarge has an EBS volume"), ("ml.m5.xlarge", "ml.m5.xlarge has no GPU")],
)
def test_start_on_an_instance_that_cannot_run_the_jobs_fails_before_any_call(
    mocked_registry, capsys, requested, problem
):
    """dev trains on ml.g5.xlarge (local NVMe, a GPU): its jobs carry no volume key, so an EBS type cannot run
    them, and they run the GPU image, so a CPU type cannot either."""
    code = main(["pipeline", "start", "--stage", "dev", "--param", f"TrainingInstanceType={requested}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith(f"textclf pipeline start: --param TrainingInstanceType: {problem}")
    assert "Fix:" in err  # no pipeline exists here: a call would have ended in "AWS said", exit 1
