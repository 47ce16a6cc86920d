"""Training and distillation pipelines: every step validates against botocore's SageMaker model; gates; triggers."""

from __future__ import annotations

import copy
import json
import re
import tarfile

import pytest
from aws_cdk import App, Environment, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from rehearsal.sagemaker.pipelines import Execution, PipelineFailed, StepError
from rehearsal.sagemaker.rules import validate_request
from stacks import source_bundle
from stacks.pipeline_definition import PipelineInputs, definition, distillation_definition
from stacks.storage import S3Location
from stacks.training_pipeline import TrainingPipeline
from training import contract

ACCOUNT, REGION = "111122223333", "us-east-1"
INPUTS = dict(
    region=REGION,
    stage="dev",
    training_image="763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-training:2.8.0",
    inference_image="763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-inference:2.6.0",
    training_role_arn=f"arn:aws:iam::{ACCOUNT}:role/TrainingRole",
    processing_role_arn=f"arn:aws:iam::{ACCOUNT}:role/ProcessingRole",
    batch_role_arn=f"arn:aws:iam::{ACCOUNT}:role/BatchTransformRole",
    baseline_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:Baseline",
    code_uri="s3://assets/abc123.tar.gz",
    code_file="abc123.tar.gz",
    dataset_uri="s3://data/datasets/",
    base_model_uri="s3://data/base-models/distilbert-base-uncased/",
    output_uri="s3://artifacts/training-jobs/",
    teacher_base_model_uri="s3://data/base-models/bert-base-uncased/",
    evaluation_uri="s3://artifacts/evaluations/",
    batch_output_uri="s3://data/batch/output/",
    checkpoint_uri="s3://checkpoints/checkpoints/",
    key_arn=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    model_package_group="textclf-dev",
    training_instance_type="ml.g5.xlarge",
    training_instance_count=1,
    training_input_mode="File",
    torch_distributed=True,
    processing_instance_type="ml.m5.xlarge",
    use_spot=True,
    max_runtime_seconds=7200,
    max_wait_seconds=14400,
    network_isolation=True,
    min_accuracy=0.85,
    regression_margin=0.01,
    min_class_recall=0.7,
    min_teacher_ratio=0.97,
    serve_int8=False,
)
STEP_PROPERTIES = {
    **{
        f"Steps.{step}.ModelArtifacts.S3ModelArtifacts": f"s3://artifacts/training-jobs/{step}/output/model.tar.gz"
        for step in ("Train", "TrainTeacher", "DistillStudent", "DistillFromGivenTeacher")
    },
    "Execution.PipelineExecutionId": "abcdef123456",
    "Steps.Baseline.OutputParameters['minimum_accuracy']": 0.89,
    "Steps.BatchModel.ModelName": "pipelines-abcdef123456-BatchModel-x",
}
GIVEN_TEACHER = {
    "TeacherModelDataUrl": "s3://artifacts/training-jobs/old/output/model.tar.gz",
    "TeacherPackageArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/textclf-dev/3",
}
# Property-file values that are strings; every other value read here is a number.
STRING_VALUES = {"sha256": "ab" * 32, "served": "fp32", "int8_verified": "true", "min_class_recall_label": "negative"}
OPERATIONS = {
    "Training": ("CreateTrainingJob", "TrainingJobName"),
    "Processing": ("CreateProcessingJob", "ProcessingJobName"),
    "RegisterModel": ("CreateModelPackage", None),
    "Model": ("CreateModel", "ModelName"),
    "Transform": ("CreateTransformJob", "TransformJobName"),
}


def all_steps(listed: list[dict]) -> list[dict]:
    """Every step, including those nested in conditions' branches, at any depth."""
    found = []
    for step in listed:
        found.append(step)
        if step["Type"] == "Condition":
            found += all_steps(step["Arguments"]["IfSteps"]) + all_steps(step["Arguments"]["ElseSteps"])
    return found


def steps(document: dict) -> dict[str, dict]:
    return {step["Name"]: step for step in all_steps(document["Steps"])}


def resolve(node, parameters: dict):
    """What SageMaker substitutes at run time: parameters, step properties, joins, property-file values."""
    if isinstance(node, list):
        return [resolve(item, parameters) for item in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Get"}:
        reference = node["Get"]
        if reference.startswith("Parameters."):
            return parameters[reference.removeprefix("Parameters.")]
        return STEP_PROPERTIES[reference]
    if set(node) == {"Std:Join"}:
        return node["Std:Join"]["On"].join(str(resolve(v, parameters)) for v in node["Std:Join"]["Values"])
    if set(node) == {"Std:JsonGet"}:
        path = node["Std:JsonGet"]["Path"]
        if path.startswith("metadata."):
            return "0.9000"  # evaluate.py writes metadata as strings, as CustomerMetadataProperties needs
        if path.startswith(f"{contract.GATE_PROBES}."):
            return contract.encode_probe("positive", "a moving, funny film — and “very” good")
        if path.startswith(f"{contract.GATE_MONITOR}."):
            return contract.encode_shares([0.5, 0.5])
        return STRING_VALUES.get(path, 0.9)
    return {key: resolve(value, parameters) for key, value in node.items()}


def validate(step: dict, document: dict, **parameters) -> None:
    """The step's request, resolved, against botocore's model and the rules SageMaker's documentation states."""
    operation, name_field = OPERATIONS[step["Type"]]
    defaults = {**{p["Name"]: p["DefaultValue"] for p in document["Parameters"]}, **parameters}
    arguments = resolve(step["Arguments"], defaults)
    if name_field:
        arguments[name_field] = "pipelines-generated-name"
    validate_request(operation, arguments)


@pytest.fixture(scope="module")
def document() -> dict:
    return json.loads(json.dumps(definition(PipelineInputs(**INPUTS))))


@pytest.fixture(scope="module")
def distillation() -> dict:
    return json.loads(json.dumps(distillation_definition(PipelineInputs(**INPUTS))))


def test_four_steps_train_evaluate_condition_register_or_fail(document):
    _, guard = document["Steps"]
    assert [s["Name"] for s in document["Steps"]] == ["Baseline", "TrainingInstanceFits"]
    assert _branch(guard, "IfSteps") == ["Train", "Evaluate", "CheckAccuracy"]
    assert _branch(guard, "ElseSteps") == ["TrainingInstanceRefused"]
    condition = steps(document)["CheckAccuracy"]["Arguments"]
    assert [s["Type"] for s in condition["IfSteps"]] == ["RegisterModel", "Condition"]
    assert [s["Type"] for s in condition["ElseSteps"]] == ["Fail"]


@pytest.mark.parametrize("name", ["Train", "Evaluate", "Register", "BatchModel", "ScoreBatch"])
def test_step_arguments_validate_against_botocores_sagemaker_model(document, name):
    validate(steps(document)[name], document, BatchInputUri="s3://data/batch/input/reviews.jsonl")


def test_a_batch_is_scored_only_when_named_and_only_after_registration(document):
    given = steps(document)["BatchGiven"]
    assert given["DependsOn"] == ["Register"]
    (condition,) = given["Arguments"]["Conditions"]
    assert condition == {
        "Type": "Not",
        "Expression": {"Type": "Equals", "LeftValue": {"Get": "Parameters.BatchInputUri"}, "RightValue": ""},
    }
    assert [s["Name"] for s in given["Arguments"]["IfSteps"]] == ["BatchModel", "ScoreBatch"]
    assert given["Arguments"]["ElseSteps"] == []
    declared = {p["Name"]: p["DefaultValue"] for p in document["Parameters"]}
    assert declared["BatchInputUri"] == "" and declared["BatchOutputUri"] == "s3://data/batch/output/pipeline/"


def test_the_batch_model_is_the_trained_one_isolated_as_the_batch_role(document):
    model = resolve(steps(document)["BatchModel"]["Arguments"], {})
    assert model["ExecutionRoleArn"].endswith(":role/BatchTransformRole")
    assert model["PrimaryContainer"]["ModelDataUrl"] == "s3://artifacts/training-jobs/Train/output/model.tar.gz"
    assert model["EnableNetworkIsolation"] is True
    assert model["PrimaryContainer"]["Environment"][contract.MAX_BATCH_ENV] == str(contract.BATCH_MAX_TEXTS)
    defaults = {p["Name"]: p["DefaultValue"] for p in document["Parameters"]}
    transform = resolve(steps(document)["ScoreBatch"]["Arguments"], {**defaults, "BatchInputUri": "s3://i/x.jsonl"})
    assert transform["ModelName"] == STEP_PROPERTIES["Steps.BatchModel.ModelName"]
    assert transform["TransformOutput"]["S3OutputPath"] == "s3://data/batch/output/pipeline/abcdef123456/"
    assert transform["TransformInput"]["ContentType"] == "application/jsonlines"
    assert transform["Tags"] == [{"Key": "stage", "Value": "dev"}]


def _branch(condition: dict, side: str) -> list[str]:
    return [step["Name"] for step in condition["Arguments"][side]]


def test_distillation_trains_the_teacher_unless_one_is_given(distillation):
    _, guard = distillation["Steps"]
    (choose,) = guard["Arguments"]["IfSteps"]
    assert choose["Arguments"]["Conditions"] == [
        {"Type": "Equals", "LeftValue": {"Get": "Parameters.TeacherModelDataUrl"}, "RightValue": ""}
    ]
    assert _branch(choose, "IfSteps") == ["TrainTeacher", "DistillStudent", "EvaluateStudent", "CheckStudent"]
    assert _branch(choose, "ElseSteps") == [
        "DistillFromGivenTeacher",
        "EvaluateWithGivenTeacher",
        "CheckWithGivenTeacher",
    ]
    found = steps(distillation)
    assert _branch(found["CheckStudent"], "IfSteps") == ["RegisterStudent"]
    assert _branch(found["CheckStudent"], "ElseSteps") == ["StudentRejected"]
    names = [step["Name"] for step in all_steps(distillation["Steps"])]
    assert len(names) == len(set(names)), "step names are unique across branches"


@pytest.mark.parametrize(
    "name",
    [
        "TrainTeacher",
        "DistillStudent",
        "EvaluateStudent",
        "RegisterStudent",
        "DistillFromGivenTeacher",
        "EvaluateWithGivenTeacher",
        "RegisterWithGivenTeacher",
    ],
)
def test_distillation_steps_validate_against_botocores_sagemaker_model(distillation, name):
    validate(steps(distillation)[name], distillation, **GIVEN_TEACHER)


def _channels(step: dict) -> dict:
    return {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in step["Arguments"]["InputDataConfig"]}


def test_the_student_learns_from_the_teacher_this_execution_trained_or_the_given_one(distillation):
    found = steps(distillation)
    assert _channels(found["TrainTeacher"])["model"] == {"Get": "Parameters.TeacherBaseModelUri"}
    assert "teacher" not in _channels(found["TrainTeacher"])
    assert _channels(found["DistillStudent"])["teacher"] == {
        "Get": "Steps.TrainTeacher.ModelArtifacts.S3ModelArtifacts"
    }
    assert _channels(found["DistillFromGivenTeacher"])["teacher"] == {"Get": "Parameters.TeacherModelDataUrl"}
    for name in ("DistillStudent", "DistillFromGivenTeacher"):
        assert _channels(found[name])["model"] == {"Get": "Parameters.BaseModelUri"}
    evaluated = {
        i["InputName"]: i["S3Input"]["S3Uri"] for i in found["EvaluateStudent"]["Arguments"]["ProcessingInputs"]
    }
    assert evaluated["model"] == {"Get": "Steps.DistillStudent.ModelArtifacts.S3ModelArtifacts"}
    assert evaluated["teacher"] == {"Get": "Steps.TrainTeacher.ModelArtifacts.S3ModelArtifacts"}
    prefixes = {
        resolve(found[n]["Arguments"]["CheckpointConfig"]["S3Uri"], {}) for n in ("TrainTeacher", "DistillStudent")
    }
    assert len(prefixes) == 2, "teacher and student keep their checkpoints apart"


@pytest.mark.parametrize("name", ["TrainTeacher", "DistillStudent", "DistillFromGivenTeacher"])
def test_distillation_hyperparameters_are_accepted_by_train_py(distillation, name, tmp_path, monkeypatch):
    import hparams

    for channel in ("TRAIN", "VALIDATION", "MODEL", "TEACHER"):
        monkeypatch.setenv(f"SM_CHANNEL_{channel}", str(tmp_path / channel.lower()))
    defaults = {**{p["Name"]: p["DefaultValue"] for p in distillation["Parameters"]}, "StudentLayers": "0,2,4"}
    values = resolve(steps(distillation)[name]["Arguments"]["HyperParameters"], defaults)
    args = hparams.parse_args(
        [part for key, value in values.items() if not key.startswith("sagemaker_") for part in (f"--{key}", str(value))]
    )
    if name == "TrainTeacher":
        assert args.mode == "finetune" and args.early_stopping_patience == 3
    else:
        assert (args.mode, args.alpha, args.temperature, args.student_layers) == ("distill", 0.5, 3.0, [0, 2, 4])


def test_the_student_gate_adds_the_teacher_floor_to_every_other_condition(distillation):
    conditions = steps(distillation)["CheckStudent"]["Arguments"]["Conditions"]
    gate = {"Get": "Steps.EvaluateStudent.PropertyFiles.Gate"}
    assert [c["RightValue"] for c in conditions] == [
        {"Get": "Parameters.AccuracyThreshold"},
        {"Get": "Steps.Baseline.OutputParameters['minimum_accuracy']"},
        {"Get": "Parameters.MinClassRecall"},
        {"Std:JsonGet": {"PropertyFile": gate, "Path": "teacher_floor"}},
    ]
    assert conditions[2]["LeftValue"] == {"Std:JsonGet": {"PropertyFile": gate, "Path": "min_class_recall"}}


def test_the_registered_student_carries_its_teachers_accuracy_and_lineage(distillation):
    register = resolve(
        steps(distillation)["RegisterStudent"]["Arguments"],
        {p["Name"]: p["DefaultValue"] for p in distillation["Parameters"]},
    )
    metadata = register["CustomerMetadataProperties"]
    assert metadata["TeacherModelDataUrl"] == STEP_PROPERTIES["Steps.TrainTeacher.ModelArtifacts.S3ModelArtifacts"]
    assert {
        "TeacherAccuracy",
        "TeacherSource",
        "Fp32Accuracy",
        "Int8Accuracy",
        "MinClassRecall",
        "Served",
        "ModelDataSha256",
    } <= set(metadata)
    assert register["InferenceSpecification"]["Containers"][0]["Environment"]["TEXTCLF_INT8_VERIFIED"] == "true"
    assert register["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"].endswith("/EvaluateStudent/evaluation.json")


def test_a_rejected_student_is_told_every_number(distillation):
    message = resolve(
        steps(distillation)["StudentRejected"]["Arguments"]["ErrorMessage"],
        {p["Name"]: p["DefaultValue"] for p in distillation["Parameters"]},
    )
    for part in (
        "accuracy 0.9",
        "threshold 0.85",
        "margin 0.89",
        "recall must be >= 0.7",
        "lowest is 0.9 ( negative",
        "0.97 x the teacher's accuracy 0.9 = 0.9",
    ):
        assert part in message, message


def test_evaluate_arguments_are_accepted_by_evaluate_py(distillation, document):
    import evaluate

    for found, name in ((steps(distillation), "EvaluateStudent"), (steps(document), "Evaluate")):
        defaults = {
            p["Name"]: p["DefaultValue"] for p in (distillation if name != "Evaluate" else document)["Parameters"]
        }
        app = resolve(found[name]["Arguments"]["AppSpecification"], defaults)
        args = evaluate.parse_args(app["ContainerArguments"])
        assert args.serve == "fp32"
        assert (args.teacher_path is not None) == (name == "EvaluateStudent")
    assert (
        evaluate.parse_args(
            resolve(
                steps(distillation)["EvaluateStudent"]["Arguments"]["AppSpecification"], {"MinTeacherRatio": "0.97"}
            )["ContainerArguments"]
        ).min_teacher_ratio
        == 0.97
    )


def test_spot_checkpoint_and_max_wait_are_consistent(document):
    train = steps(document)["Train"]["Arguments"]
    assert train["EnableManagedSpotTraining"] is True
    stopping = train["StoppingCondition"]
    assert stopping["MaxWaitTimeInSeconds"] >= stopping["MaxRuntimeInSeconds"] == 7200
    checkpoint = resolve(train["CheckpointConfig"], {})
    assert checkpoint == {
        "S3Uri": "s3://checkpoints/checkpoints/abcdef123456/Train/",
        "LocalPath": "/opt/ml/checkpoints",
    }
    on_demand = steps(definition(PipelineInputs(**{**INPUTS, "use_spot": False})))["Train"]["Arguments"]
    assert (
        on_demand["EnableManagedSpotTraining"] is False and "MaxWaitTimeInSeconds" not in on_demand["StoppingCondition"]
    )


def test_spot_capacity_errors_are_retried(document):
    policies = steps(document)["Train"]["RetryPolicies"]
    retried = {kind for policy in policies for kind in policy["ExceptionType"]}
    assert {"SageMaker.CAPACITY_ERROR", "SageMaker.JOB_INTERNAL_ERROR", "Step.THROTTLING"} <= retried


def test_volumes_and_outputs_use_the_stage_key(document):
    """ml.g5 trains on local NVMe, which takes no volume key; ml.m5 evaluates on an EBS volume, which takes the key."""
    train, evaluate = steps(document)["Train"]["Arguments"], steps(document)["Evaluate"]["Arguments"]
    key = INPUTS["key_arn"]
    assert "VolumeKmsKeyId" not in train["ResourceConfig"] and train["OutputDataConfig"]["KmsKeyId"] == key
    assert evaluate["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == key
    assert evaluate["ProcessingOutputConfig"]["KmsKeyId"] == key
    on_ebs = steps(definition(PipelineInputs(**{**INPUTS, "training_instance_type": "ml.m5.xlarge"})))
    assert on_ebs["Train"]["Arguments"]["ResourceConfig"]["VolumeKmsKeyId"] == key


# ---- the training instance's storage (issue 27) -------------------------------------------------------------
TRAINING_STEPS = ("Train", "TrainTeacher", "DistillStudent", "DistillFromGivenTeacher")


def _training_steps(document: dict) -> list[dict]:
    return [step for step in all_steps(document["Steps"]) if step["Type"] == "Training"]


@pytest.mark.parametrize("configured", ["ml.g5.xlarge", "ml.g5.2xlarge", "ml.m5.xlarge", "ml.p3.2xlarge"])
def test_every_training_step_is_a_request_sagemaker_accepts_on_the_configured_type(configured):
    inputs = PipelineInputs(**{**INPUTS, "training_instance_type": configured})
    for document in (definition(inputs), distillation_definition(inputs)):
        document = json.loads(json.dumps(document))
        assert {s["Name"] for s in _training_steps(document)} <= set(TRAINING_STEPS)
        for step in _training_steps(document):
            validate(step, document, **GIVEN_TEACHER)


def test_the_old_training_request_with_a_volume_key_on_g5_is_refused_for_botocores_reason(document):
    train = steps(document)["Train"]
    old = copy.deepcopy(train)
    old["Arguments"]["ResourceConfig"]["VolumeKmsKeyId"] = INPUTS["key_arn"]  # what the stack wrote before
    with pytest.raises(StepError) as refused:
        validate(old, document)
    assert "You can't request a VolumeKmsKeyId when using an instance type with local storage." in str(refused.value)
    assert "ml.g5.xlarge" in str(refused.value)


class _Recorder:
    """Runners that record which steps would have started a job."""

    def __init__(self) -> None:
        self.started: list[str] = []

    def runners(self) -> dict:
        def run(step, arguments, execution):
            self.started.append(step["Name"])
            return {
                "OutputParameters": {"minimum_accuracy": 0.0, "approved_model_package": ""},
                "ModelArtifacts": {"S3ModelArtifacts": "s3://artifacts/training-jobs/job/output/model.tar.gz"},
            }

        return {"Lambda": run, "Training": run, "Processing": run}


@pytest.mark.parametrize("pipeline", [definition, distillation_definition])
@pytest.mark.parametrize(
    ("configured", "requested", "built_for"),
    [
        ("ml.g5.xlarge", "ml.m5.xlarge", "local NVMe storage"),
        ("ml.m5.xlarge", "ml.g5.2xlarge", "an EBS volume"),
        ("ml.g5.xlarge", "ml.g5.xlarg", "local NVMe storage"),  # a typo is no training type of any kind
        ("ml.g5.xlarge", "ml.r5d.xlarge", "local NVMe storage"),  # the storage g5 has, but no GPU
    ],
)
def test_an_execution_on_the_other_storage_kind_fails_before_any_job_with_the_fix(
    pipeline, configured, requested, built_for
):
    document = json.loads(json.dumps(pipeline(PipelineInputs(**{**INPUTS, "training_instance_type": configured}))))
    recorder = _Recorder()
    execution = Execution.start(
        document,
        execution_id="other0kind",
        runners=recorder.runners(),
        overrides={"TrainingInstanceType": requested},
    )
    with pytest.raises(PipelineFailed) as refused:
        execution.run()
    assert refused.value.step == "TrainingInstanceRefused"
    assert recorder.started == ["Baseline"], "no job starts"
    message = refused.value.message
    assert message.startswith(f"TrainingInstanceType {requested} cannot run this stage's training jobs")
    assert f"built for SageMaker training types with a GPU and {built_for}" in message
    assert f"e.g. {configured}" in message and "Fix:" in message


@pytest.mark.parametrize("requested", ["ml.g5.2xlarge", "ml.g6.xlarge", "ml.p4d.24xlarge"])
def test_an_execution_on_another_type_of_the_same_kind_trains(document, requested):
    recorder = _Recorder()
    execution = Execution.start(
        document, execution_id="same0kind", runners=recorder.runners(), overrides={"TrainingInstanceType": requested}
    )
    with pytest.raises(PipelineFailed) as stopped:  # the recorder writes no evaluation: the run stops after Train
        execution.run()
    assert recorder.started[:3] == ["Baseline", "Train", "Evaluate"], stopped.value
    validate(steps(document)["Train"], document, TrainingInstanceType=requested)


def test_metric_definitions_are_train_pys_own(document):
    from contract import METRIC_DEFINITIONS

    assert steps(document)["Train"]["Arguments"]["AlgorithmSpecification"]["MetricDefinitions"] == METRIC_DEFINITIONS


def test_hyperparameters_are_accepted_by_train_py(document, tmp_path, monkeypatch):
    import hparams

    for channel in ("TRAIN", "VALIDATION", "MODEL", "TEACHER"):
        monkeypatch.setenv(f"SM_CHANNEL_{channel}", str(tmp_path / channel.lower()))

    defaults = {p["Name"]: p["DefaultValue"] for p in document["Parameters"]}
    values = resolve(steps(document)["Train"]["Arguments"]["HyperParameters"], defaults)
    assert values["sagemaker_program"] == "training/train.py"
    # Under network isolation the code arrives as the "code" channel, not over S3.
    assert values["sagemaker_submit_directory"] == "/opt/ml/input/data/code/abc123.tar.gz"
    # sagemaker-training passes every non-sagemaker_ hyperparameter to the program as --name value.
    argv = [
        part
        for name, value in values.items()
        if not name.startswith("sagemaker_")
        for part in (f"--{name}", str(value))
    ]
    args = hparams.parse_args(argv)
    assert (args.mode, args.epochs, args.early_stopping_patience, args.eval_steps) == ("finetune", 3, 3, 0)


def test_torch_distributed_is_what_sagemaker_training_reads(document, tmp_path, monkeypatch):
    """The DLC launches torchrun when sagemaker-training reports this framework parameter."""
    from sagemaker_training import environment

    hyperparameters = steps(document)["Train"]["Arguments"]["HyperParameters"]
    config = tmp_path / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(
        json.dumps({k: v for k, v in hyperparameters.items() if isinstance(v, str)})
    )
    hosts = ["algo-1", "algo-2"]
    (config / "resourceconfig.json").write_text(
        json.dumps(
            {
                "current_host": "algo-1",
                "hosts": hosts,
                "current_group_name": "homogeneousCluster",
                "instance_groups": [
                    {"instance_group_name": "homogeneousCluster", "instance_type": "ml.g5.xlarge", "hosts": hosts}
                ],
            }
        )
    )
    (config / "inputdataconfig.json").write_text("{}")
    monkeypatch.setattr(environment, "hyperparameters_file_dir", str(config / "hyperparameters.json"))
    monkeypatch.setattr(environment, "resource_config_file_dir", str(config / "resourceconfig.json"))
    monkeypatch.setattr(environment, "input_data_config_file_dir", str(config / "inputdataconfig.json"))
    monkeypatch.setattr(environment, "model_dir", str(tmp_path / "model"))
    env = environment.Environment()
    assert env.additional_framework_parameters["sagemaker_torch_distributed_enabled"] is True
    assert env.distribution_hosts == hosts


def test_network_isolation_reads_base_models_from_s3_channels(document):
    train = steps(document)["Train"]["Arguments"]
    assert train["EnableNetworkIsolation"] is True and train["Environment"] == {"HF_HUB_OFFLINE": "1"}
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in train["InputDataConfig"]}
    assert channels["model"] == {"Get": "Parameters.BaseModelUri"}
    assert "teacher" not in channels, "fine-tuning has no teacher; the distillation pipeline does"


def test_evaluation_feeds_the_condition_and_the_registered_metrics(document):
    evaluate, register = steps(document)["Evaluate"], steps(document)["Register"]["Arguments"]
    files = {f["PropertyFileName"]: f["FilePath"] for f in evaluate["PropertyFiles"]}
    assert files == {
        "EvaluationReport": "evaluation.json",
        "Gate": "gate.json",
        "ModelData": "model_data.json",
    }
    conditions = steps(document)["CheckAccuracy"]["Arguments"]["Conditions"]
    assert [c["RightValue"] for c in conditions] == [
        {"Get": "Parameters.AccuracyThreshold"},
        {"Get": "Steps.Baseline.OutputParameters['minimum_accuracy']"},
        {"Get": "Parameters.MinClassRecall"},
    ]
    metrics_uri = resolve(register["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"], {})
    output = resolve(evaluate["Arguments"]["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"], {})
    assert metrics_uri == f"{output}/evaluation.json"
    assert register["ModelApprovalStatus"] == "PendingManualApproval"
    assert register["InferenceSpecification"]["Containers"][0]["Image"] == INPUTS["inference_image"]


def test_evaluate_step_runs_evaluate_py_from_the_bundle_with_the_endpoint_modules_importable(document, tmp_path):
    """bash unpacks the bundle and runs evaluate.py with the arguments after it, as the processing container does,
    and evaluate.py can import the endpoint's modules (inference/) by plain name, as the endpoint does."""
    import io
    import subprocess

    app = steps(document)["Evaluate"]["Arguments"]["AppSpecification"]
    probe = b"import sys, classifier; print(classifier.NAME); print(*sys.argv[1:], sep=chr(10))\n"
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for name, content in (("training/evaluate.py", probe), ("inference/classifier.py", b"NAME = 'endpoint'\n")):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    code = tmp_path / "code"
    code.mkdir()
    (code / "0123abcd.gz").write_bytes(archive.getvalue())
    script = app["ContainerEntrypoint"][2].replace(contract.processing_input(contract.CODE), str(code))
    arguments = resolve(app["ContainerArguments"], {})
    printed = subprocess.run(
        [*app["ContainerEntrypoint"][:2], script, *app["ContainerEntrypoint"][3:], *arguments],
        capture_output=True,
        text=True,
        check=True,
    )
    assert printed.stdout.splitlines() == ["endpoint", *arguments]


def test_the_baseline_step_reads_the_registry_so_that_evaluation_runs_network_isolated(document, distillation):
    """One Lambda step per pipeline, ahead of everything: the regression bar needs the registry and nothing else."""
    import baseline

    for found in (document, distillation):
        step = found["Steps"][0]
        assert (step["Name"], step["Type"]) == ("Baseline", "Lambda")
        assert step["FunctionArn"] == INPUTS["baseline_function_arn"]
        assert baseline.parse_event(step["Arguments"]) == ("textclf-dev", 0.01)
        assert {o["OutputName"]: o["OutputType"] for o in step["OutputParameters"]} == {
            "minimum_accuracy": "Float",
            "approved_model_package": "String",
        }
        for name in ("Evaluate", "EvaluateStudent", "EvaluateWithGivenTeacher"):
            if name in steps(found):
                network = steps(found)[name]["Arguments"]["NetworkConfig"]
                assert network == {"EnableNetworkIsolation": True, "EnableInterContainerTrafficEncryption": True}


def test_jobs_run_as_their_own_roles(document):
    assert steps(document)["Train"]["Arguments"]["RoleArn"] == INPUTS["training_role_arn"]
    assert steps(document)["Evaluate"]["Arguments"]["RoleArn"] == INPUTS["processing_role_arn"]


@pytest.fixture
def pipeline_template():
    return triggered_pipeline_template()


def triggered_pipeline_template() -> Template:
    """A pipeline in a bare stack, started by new datasets under ``datasets/`` and by a weekly schedule."""
    stack = Stack(App(), "Bare", env=Environment(account=ACCOUNT, region=REGION))
    key = kms.Key(stack, "Key")
    bucket = s3.Bucket(stack, "Data", encryption_key=key)
    role = iam.Role(stack, "PipelineRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    TrainingPipeline(
        stack,
        "TrainingPipeline",
        pipeline_name="textclf-dev-training",
        description="fine-tune",
        definition=definition(PipelineInputs(**INPUTS)),
        execution_role=role,
        dataset=S3Location(bucket, "datasets/", key),
        schedule="rate(7 days)",
    )
    return Template.from_stack(stack)


def test_a_pipeline_without_triggers_has_no_rules_and_no_trigger_role():
    stack = Stack(App(), "Bare", env=Environment(account=ACCOUNT, region=REGION))
    role = iam.Role(stack, "PipelineRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    TrainingPipeline(
        stack,
        "Distillation",
        pipeline_name="textclf-dev-distillation",
        description="distill",
        definition=distillation_definition(PipelineInputs(**INPUTS)),
        execution_role=role,
    )
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::Events::Rule", 0)
    template.resource_count_is("AWS::SageMaker::Pipeline", 1)
    template.resource_count_is("AWS::IAM::Role", 1)  # the pipeline's own role: no trigger role


def test_new_training_data_and_the_schedule_start_the_pipeline(pipeline_template):
    target = {
        "Arn": Match.any_value(),
        "Id": "StartTrainingPipeline",
        "RoleArn": {"Fn::GetAtt": [Match.string_like_regexp("^TrainingPipelineTriggerRole"), "Arn"]},
    }
    pipeline_template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.s3"],
                "detail-type": ["Object Created"],
                "detail": {
                    "bucket": {"name": [{"Ref": Match.string_like_regexp("^Data")}]},
                    # The manifest only: an upload of many files is one execution (tests/test_dataset.py).
                    "object": {"key": ["datasets/manifest.json"]},
                },
            },
            "Targets": [target],
        },
    )
    pipeline_template.has_resource_properties(
        "AWS::Events::Rule", {"ScheduleExpression": "rate(7 days)", "Targets": [target]}
    )
    rules = pipeline_template.find_resources("AWS::Events::Rule")
    target_arns = {json.dumps(rule["Properties"]["Targets"][0]["Arn"]) for rule in rules.values()}
    assert len(target_arns) == 1 and ":pipeline/textclf-dev-training" in target_arns.pop()


def test_the_trigger_role_may_only_start_this_pipeline(pipeline_template):
    rules = pipeline_template.find_resources("AWS::Events::Rule")
    pipeline_arn = next(iter(rules.values()))["Properties"]["Targets"][0]["Arn"]
    (policy,) = pipeline_template.find_resources("AWS::IAM::Policy").values()
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {"Action": "sagemaker:StartPipelineExecution", "Effect": "Allow", "Resource": pipeline_arn}
    ]


def test_pipeline_resource_carries_the_definition(pipeline_template):
    pipelines = pipeline_template.find_resources("AWS::SageMaker::Pipeline")
    (pipeline,) = pipelines.values()
    body = json.loads(pipeline["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"])
    assert body == json.loads(json.dumps(definition(PipelineInputs(**INPUTS))))
    assert pipeline["Properties"]["PipelineName"] == "textclf-dev-training"


def test_source_bundle_is_byte_identical_and_holds_both_code_folders(tmp_path):
    first, second = source_bundle.archive_bytes(), source_bundle.archive_bytes()
    assert first == second
    path = source_bundle.build(tmp_path / "sourcedir.tar.gz")
    with tarfile.open(path) as archive:
        members = archive.getmembers()
    names = [m.name for m in members]
    assert {"training/train.py", "training/evaluate.py", "inference/inference.py"} <= set(names)
    assert names == sorted(names) and not any("__pycache__" in n for n in names)
    assert {(m.mtime, m.uid, m.gid, m.uname) for m in members} == {(0, 0, 0, "")}


def test_synthesized_definition_resolves_to_valid_api_requests(synthesized):
    """The real template: CloudFormation's intrinsics resolved with stand-in values, then every step validated."""
    _, _, _, outdir = synthesized
    template = json.loads(next(outdir.glob("assembly-Prod/*.template.json")).read_text())
    pipelines = {
        r["Properties"]["PipelineName"]: json.loads(
            _cfn(r["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"])
        )
        for r in template["Resources"].values()
        if r["Type"] == "AWS::SageMaker::Pipeline"
    }
    assert set(pipelines) == {"textclf-prod-training", "textclf-prod-distillation"}
    for found in pipelines.values():
        for step in all_steps(found["Steps"]):
            if step["Type"] in OPERATIONS:  # the batch steps run only when a batch input is named
                validate(step, found, **GIVEN_TEACHER, BatchInputUri="s3://data/batch/input/reviews.jsonl")
    document = pipelines["textclf-prod-training"]
    train = steps(document)["Train"]["Arguments"]
    code = next(c for c in train["InputDataConfig"] if c["ChannelName"] == "code")["DataSource"]["S3DataSource"]
    asset = re.match(r"^s3://cdk-[a-z0-9]+-assets-\d{12}-us-east-1/([0-9a-f]{64}\.gz)$", code["S3Uri"])
    assert asset, code
    assert train["HyperParameters"]["sagemaker_submit_directory"] == f"/opt/ml/input/data/code/{asset.group(1)}"


def _cfn(node):
    """A small evaluator for the intrinsics CDK emits here (Ref, GetAtt, Join, Sub)."""
    pseudo = {
        "AWS::AccountId": ACCOUNT,
        "AWS::Region": REGION,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }
    if isinstance(node, list):
        return [_cfn(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "Ref" in node:
        return pseudo.get(node["Ref"], node["Ref"].lower())
    if "Fn::GetAtt" in node:
        logical, attribute = node["Fn::GetAtt"]
        if "Role" in logical:
            return f"arn:aws:iam::{ACCOUNT}:role/{logical}"
        return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{logical}" if "Key" in logical else f"{logical}.{attribute}"
    if "Fn::Join" in node:
        separator, parts = node["Fn::Join"]
        return separator.join(str(_cfn(part)) for part in parts)
    if "Fn::Sub" in node:
        return re.sub(r"\$\{([^}]+)\}", lambda m: pseudo.get(m.group(1), m.group(1)), node["Fn::Sub"])
    return {key: _cfn(value) for key, value in copy.deepcopy(node).items()}


def test_fastfile_streams_the_data_channels_and_copies_the_model_and_code_whole():
    """training_input_mode reaches the train and validation channels only: the model and code channels are read
    as whole folders and archives, so they stay File (the job's TrainingInputMode)."""
    for definition_of in (definition, distillation_definition):
        document = json.loads(
            json.dumps(definition_of(PipelineInputs(**{**INPUTS, "training_input_mode": "FastFile"})))
        )
        for step in all_steps(document["Steps"]):
            if step["Type"] != "Training":
                continue
            arguments = step["Arguments"]
            assert arguments["AlgorithmSpecification"]["TrainingInputMode"] == "File"
            modes = {channel["ChannelName"]: channel.get("InputMode") for channel in arguments["InputDataConfig"]}
            assert modes.pop("train") == modes.pop("validation") == "FastFile", step["Name"]
            assert set(modes.values()) == {None}, (step["Name"], modes)


def test_without_torch_distributed_the_job_leaves_the_toolkit_its_plain_runner():
    """training_distribution "none": no sagemaker_torch_distributed_enabled, so the PyTorch toolkit runs train.py
    as one process (sagemaker_pytorch_container.training picks its runner from that parameter)."""
    plain = steps(json.loads(json.dumps(definition(PipelineInputs(**{**INPUTS, "torch_distributed": False})))))
    assert "sagemaker_torch_distributed_enabled" not in plain["Train"]["Arguments"]["HyperParameters"]
