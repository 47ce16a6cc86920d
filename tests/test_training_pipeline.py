"""Training pipeline: the definition's steps validate against botocore's SageMaker model; triggers; code bundle."""

from __future__ import annotations

import copy
import json
import re
import tarfile

import botocore.session
import pytest
from aws_cdk import App, Environment, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template
from botocore.validate import ParamValidator

from stacks import source_bundle
from stacks.pipeline_definition import PipelineInputs, definition
from stacks.storage import S3Location
from stacks.training_pipeline import TrainingPipeline

ACCOUNT, REGION = "111122223333", "us-east-1"
INPUTS = dict(
    region=REGION,
    training_image="763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-training:2.8.0",
    inference_image="763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-inference:2.6.0",
    training_role_arn=f"arn:aws:iam::{ACCOUNT}:role/TrainingRole",
    processing_role_arn=f"arn:aws:iam::{ACCOUNT}:role/ProcessingRole",
    code_uri="s3://assets/abc123.tar.gz", code_file="abc123.tar.gz", dataset_uri="s3://data/datasets/",
    base_model_uri="s3://data/base-models/distilbert-base-uncased/", output_uri="s3://artifacts/training-jobs/",
    evaluation_uri="s3://artifacts/evaluations/", checkpoint_uri="s3://checkpoints/checkpoints/",
    key_arn=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    model_package_group="textclf-dev", training_instance_type="ml.g5.xlarge", training_instance_count=1,
    processing_instance_type="ml.m5.xlarge", use_spot=True, max_runtime_seconds=7200, max_wait_seconds=14400,
    network_isolation=True, min_accuracy=0.85, regression_margin=0.01,
)
STEP_PROPERTIES = {
    "Steps.Train.ModelArtifacts.S3ModelArtifacts": "s3://artifacts/training-jobs/job/output/model.tar.gz",
    "Execution.PipelineExecutionId": "abcdef123456",
}
OPERATIONS = {"Training": ("CreateTrainingJob", "TrainingJobName"),
              "Processing": ("CreateProcessingJob", "ProcessingJobName"),
              "RegisterModel": ("CreateModelPackage", None)}


def steps(document: dict) -> dict[str, dict]:
    """Every step by name, including those nested in the condition's branches."""
    found = {}
    for step in document["Steps"]:
        found[step["Name"]] = step
        if step["Type"] == "Condition":
            for branch in ("IfSteps", "ElseSteps"):
                found.update({s["Name"]: s for s in step["Arguments"][branch]})
    return found


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
        # Property-file values: the model data's digest is a string, every other value here a number.
        return "ab" * 32 if node["Std:JsonGet"]["Path"] == "sha256" else 0.9
    return {key: resolve(value, parameters) for key, value in node.items()}


def validate(step: dict, document: dict) -> None:
    operation, name_field = OPERATIONS[step["Type"]]
    defaults = {p["Name"]: p["DefaultValue"] for p in document["Parameters"]}
    arguments = resolve(step["Arguments"], defaults)
    if name_field:
        arguments[name_field] = "pipelines-generated-name"
    shape = botocore.session.get_session().get_service_model("sagemaker").operation_model(operation).input_shape
    report = ParamValidator().validate(arguments, shape)
    assert not report.has_errors(), f"{step['Name']} -> {operation}:\n{report.generate_report()}"


@pytest.fixture(scope="module")
def document() -> dict:
    return json.loads(json.dumps(definition(PipelineInputs(**INPUTS))))


def test_four_steps_train_evaluate_condition_register_or_fail(document):
    assert [s["Name"] for s in document["Steps"]] == ["Train", "Evaluate", "CheckAccuracy"]
    condition = steps(document)["CheckAccuracy"]["Arguments"]
    assert [s["Type"] for s in condition["IfSteps"]] == ["RegisterModel"]
    assert [s["Type"] for s in condition["ElseSteps"]] == ["Fail"]


@pytest.mark.parametrize("name", ["Train", "Evaluate", "Register"])
def test_step_arguments_validate_against_botocores_sagemaker_model(document, name):
    validate(steps(document)[name], document)


def test_spot_checkpoint_and_max_wait_are_consistent(document):
    train = steps(document)["Train"]["Arguments"]
    assert train["EnableManagedSpotTraining"] is True
    stopping = train["StoppingCondition"]
    assert stopping["MaxWaitTimeInSeconds"] >= stopping["MaxRuntimeInSeconds"] == 7200
    checkpoint = resolve(train["CheckpointConfig"], {})
    assert checkpoint == {"S3Uri": "s3://checkpoints/checkpoints/abcdef123456/", "LocalPath": "/opt/ml/checkpoints"}
    on_demand = definition(PipelineInputs(**{**INPUTS, "use_spot": False}))["Steps"][0]["Arguments"]
    assert on_demand["EnableManagedSpotTraining"] is False and "MaxWaitTimeInSeconds" not in on_demand["StoppingCondition"]


def test_spot_capacity_errors_are_retried(document):
    policies = steps(document)["Train"]["RetryPolicies"]
    retried = {kind for policy in policies for kind in policy["ExceptionType"]}
    assert {"SageMaker.CAPACITY_ERROR", "SageMaker.JOB_INTERNAL_ERROR", "Step.THROTTLING"} <= retried


def test_volumes_and_outputs_use_the_stage_key(document):
    train, evaluate = steps(document)["Train"]["Arguments"], steps(document)["Evaluate"]["Arguments"]
    key = INPUTS["key_arn"]
    assert train["ResourceConfig"]["VolumeKmsKeyId"] == train["OutputDataConfig"]["KmsKeyId"] == key
    assert evaluate["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == key
    assert evaluate["ProcessingOutputConfig"]["KmsKeyId"] == key


def test_metric_definitions_are_train_pys_own(document):
    from log_format import METRIC_DEFINITIONS

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
    argv = [part for name, value in values.items() if not name.startswith("sagemaker_")
            for part in (f"--{name}", str(value))]
    args = hparams.parse_args(argv)
    assert (args.mode, args.epochs, args.alpha) == ("finetune", 3, 0.5)


def test_torch_distributed_is_what_sagemaker_training_reads(document, tmp_path, monkeypatch):
    """The DLC launches torchrun when sagemaker-training reports this framework parameter."""
    from sagemaker_training import environment

    hyperparameters = steps(document)["Train"]["Arguments"]["HyperParameters"]
    config = tmp_path / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps(
        {k: v for k, v in hyperparameters.items() if isinstance(v, str)}))
    hosts = ["algo-1", "algo-2"]
    (config / "resourceconfig.json").write_text(json.dumps({
        "current_host": "algo-1", "hosts": hosts, "current_group_name": "homogeneousCluster",
        "instance_groups": [{"instance_group_name": "homogeneousCluster", "instance_type": "ml.g5.xlarge",
                             "hosts": hosts}]}))
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
    assert channels["teacher"] == {"Get": "Parameters.TeacherModelUri"}


def test_evaluation_feeds_the_condition_and_the_registered_metrics(document):
    evaluate, register = steps(document)["Evaluate"], steps(document)["Register"]["Arguments"]
    files = {f["PropertyFileName"]: f["FilePath"] for f in evaluate["PropertyFiles"]}
    assert files == {"EvaluationReport": "evaluation.json", "Baseline": "baseline.json", "ModelData": "model_data.json"}
    conditions = steps(document)["CheckAccuracy"]["Arguments"]["Conditions"]
    assert [c["RightValue"] for c in conditions] == [
        {"Get": "Parameters.AccuracyThreshold"},
        {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.Baseline"}, "Path": "minimum_accuracy"}},
    ]
    metrics_uri = resolve(register["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"], {})
    output = resolve(evaluate["Arguments"]["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"], {})
    assert metrics_uri == f"{output}/evaluation.json"
    assert register["ModelApprovalStatus"] == "PendingManualApproval"
    assert register["InferenceSpecification"]["Containers"][0]["Image"] == INPUTS["inference_image"]


def test_evaluate_step_runs_evaluate_py_from_the_bundle(document):
    command = steps(document)["Evaluate"]["Arguments"]["AppSpecification"]["ContainerEntrypoint"][-1]
    assert "tar -xzf ./*.gz" in command and "python3 training/evaluate.py" in command
    assert "--model_package_group textclf-dev --regression_margin 0.01" in command
    import evaluate

    argv = command.split("training/evaluate.py", 1)[1].split()
    assert evaluate.parse_args(argv).model_package_group == "textclf-dev"


def test_jobs_run_as_their_own_roles(document):
    assert steps(document)["Train"]["Arguments"]["RoleArn"] == INPUTS["training_role_arn"]
    assert steps(document)["Evaluate"]["Arguments"]["RoleArn"] == INPUTS["processing_role_arn"]


@pytest.fixture
def pipeline_template():
    stack = Stack(App(), "Bare", env=Environment(account=ACCOUNT, region=REGION))
    key = kms.Key(stack, "Key")
    bucket = s3.Bucket(stack, "Data", encryption_key=key)
    role = iam.Role(stack, "PipelineRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    TrainingPipeline(stack, "TrainingPipeline", pipeline_name="textclf-dev-training", inputs=PipelineInputs(**INPUTS),
                     execution_role=role, training_data=S3Location(bucket, "datasets/train/", key),
                     schedule="rate(7 days)")
    return Template.from_stack(stack)


def test_new_training_data_and_the_schedule_start_the_pipeline(pipeline_template):
    target = {"Arn": Match.any_value(), "Id": "StartTrainingPipeline",
              "RoleArn": {"Fn::GetAtt": [Match.string_like_regexp("^TrainingPipelineTriggerRole"), "Arn"]}}
    pipeline_template.has_resource_properties("AWS::Events::Rule", {
        "EventPattern": {"source": ["aws.s3"], "detail-type": ["Object Created"],
                         "detail": {"bucket": {"name": [{"Ref": Match.string_like_regexp("^Data")}]},
                                    "object": {"key": [{"prefix": "datasets/train/"}]}}},
        "Targets": [target]})
    pipeline_template.has_resource_properties("AWS::Events::Rule", {
        "ScheduleExpression": "rate(7 days)", "Targets": [target]})
    rules = pipeline_template.find_resources("AWS::Events::Rule")
    target_arns = {json.dumps(rule["Properties"]["Targets"][0]["Arn"]) for rule in rules.values()}
    assert len(target_arns) == 1 and ":pipeline/textclf-dev-training" in target_arns.pop()


def test_the_trigger_role_may_only_start_this_pipeline(pipeline_template):
    rules = pipeline_template.find_resources("AWS::Events::Rule")
    pipeline_arn = next(iter(rules.values()))["Properties"]["Targets"][0]["Arn"]
    (policy,) = pipeline_template.find_resources("AWS::IAM::Policy").values()
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {"Action": "sagemaker:StartPipelineExecution", "Effect": "Allow", "Resource": pipeline_arn}]


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
    (pipeline,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::SageMaker::Pipeline"]
    document = json.loads(_cfn(pipeline["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"]))
    for name in ("Train", "Evaluate", "Register"):
        validate(steps(document)[name], document)
    train = steps(document)["Train"]["Arguments"]
    code = next(c for c in train["InputDataConfig"] if c["ChannelName"] == "code")["DataSource"]["S3DataSource"]
    asset = re.match(r"^s3://cdk-[a-z0-9]+-assets-\d{12}-us-east-1/([0-9a-f]{64}\.gz)$", code["S3Uri"])
    assert asset, code
    assert train["HyperParameters"]["sagemaker_submit_directory"] == f"/opt/ml/input/data/code/{asset.group(1)}"


def _cfn(node):
    """A small evaluator for the intrinsics CDK emits here (Ref, GetAtt, Join, Sub)."""
    pseudo = {"AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}
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
