"""The SageMaker Pipeline definition, written as the documented pipeline-definition JSON.

Steps: Train (spot, checkpointed) -> Evaluate (processing, property files) -> CheckAccuracy
-> Register (PendingManualApproval) or AccuracyTooLow (Fail). Each step's ``Arguments`` is
the request of the API it calls (CreateTrainingJob, CreateProcessingJob, CreateModelPackage),
less the job name, which Pipelines generates. Values may be CDK tokens: the construct
serializes the dict with ``Stack.to_json_string``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stacks import source_bundle

CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
# Under network isolation the container has no network and no credentials, so the training toolkit
# cannot fetch an s3:// submit directory: the code travels as an input channel, as the SageMaker SDK
# ships it for isolated jobs, and the toolkit unpacks it from the channel's local path.
CODE_CHANNEL = "code"
CHANNEL_ROOT = "/opt/ml/input/data"
PROCESSING = "/opt/ml/processing"
CONTENT_TYPES = ["application/json", "application/jsonlines", "text/csv"]
EVALUATION_PATH = "multiclass_classification_metrics.accuracy.value"
# evaluate.py writes the evaluated model.tar.gz's SHA-256 there; the package carries it as metadata, and
# every stage that serves the model verifies its own copy against it (stacks/released_model.py).
MODEL_DATA_FILE = "model_data.json"
MODEL_DATA_SHA256 = "ModelDataSha256"
# Spot capacity and transient job failures are retried; the retried job resumes from the checkpoint prefix.
RETRY_POLICIES = [
    {"ExceptionType": ["SageMaker.CAPACITY_ERROR", "SageMaker.RESOURCE_LIMIT", "SageMaker.JOB_INTERNAL_ERROR"],
     "IntervalSeconds": 60, "BackoffRate": 2.0, "MaxAttempts": 5},
    {"ExceptionType": ["Step.SERVICE_FAULT", "Step.THROTTLING"], "IntervalSeconds": 10, "BackoffRate": 2.0,
     "MaxAttempts": 5},
]


@dataclass(frozen=True, kw_only=True)
class PipelineInputs:
    """Everything the definition needs; strings may be CDK tokens."""

    region: str
    training_image: str
    inference_image: str
    training_role_arn: str
    processing_role_arn: str
    code_uri: str
    code_file: str
    dataset_uri: str
    base_model_uri: str
    output_uri: str
    evaluation_uri: str
    checkpoint_uri: str
    key_arn: str
    model_package_group: str
    training_instance_type: str
    training_instance_count: int
    processing_instance_type: str
    use_spot: bool
    max_runtime_seconds: int
    max_wait_seconds: int
    network_isolation: bool
    min_accuracy: float
    regression_margin: float


def metric_definitions() -> list[dict]:
    """train.py's own regexes (training/log_format.py, which imports nothing), so the two cannot drift."""
    return source_bundle.load_module("training/log_format.py").METRIC_DEFINITIONS


def parameters(inputs: PipelineInputs) -> list[dict]:
    """Pipeline parameters, overridable per execution (console, CLI, EventBridge)."""
    return [
        {"Name": "TrainingInstanceType", "Type": "String", "DefaultValue": inputs.training_instance_type},
        {"Name": "TrainingInstanceCount", "Type": "Integer", "DefaultValue": inputs.training_instance_count},
        {"Name": "Mode", "Type": "String", "DefaultValue": "finetune"},
        {"Name": "Epochs", "Type": "String", "DefaultValue": "3"},
        {"Name": "LearningRate", "Type": "String", "DefaultValue": "5e-5"},
        {"Name": "Alpha", "Type": "String", "DefaultValue": "0.5"},
        {"Name": "Temperature", "Type": "String", "DefaultValue": "2.0"},
        {"Name": "TrainDataUri", "Type": "String", "DefaultValue": f"{inputs.dataset_uri}train/"},
        {"Name": "ValidationDataUri", "Type": "String", "DefaultValue": f"{inputs.dataset_uri}validation/"},
        {"Name": "TestDataUri", "Type": "String", "DefaultValue": f"{inputs.dataset_uri}test/"},
        {"Name": "BaseModelUri", "Type": "String", "DefaultValue": inputs.base_model_uri},
        # Distillation's teacher; in finetune mode it is attached but unused.
        {"Name": "TeacherModelUri", "Type": "String", "DefaultValue": inputs.base_model_uri},
        {"Name": "AccuracyThreshold", "Type": "Float", "DefaultValue": inputs.min_accuracy},
        # Label names in id order, e.g. negative,positive; empty: the data's own label values, sorted.
        {"Name": "Labels", "Type": "String", "DefaultValue": ""},
    ]


def definition(inputs: PipelineInputs) -> dict:
    register, fail = register_step(inputs), fail_step()
    return {
        "Version": "2020-12-01",
        "Metadata": {},
        "Parameters": parameters(inputs),
        "Steps": [train_step(inputs), evaluate_step(inputs), condition_step(register, fail)],
    }


def train_step(inputs: PipelineInputs) -> dict:
    stopping: dict[str, Any] = {"MaxRuntimeInSeconds": inputs.max_runtime_seconds}
    if inputs.use_spot:
        stopping["MaxWaitTimeInSeconds"] = inputs.max_wait_seconds
    arguments = {
        "AlgorithmSpecification": {
            "TrainingImage": inputs.training_image,
            "TrainingInputMode": "File",
            "MetricDefinitions": metric_definitions(),
        },
        "RoleArn": inputs.training_role_arn,
        "HyperParameters": {
            # Script mode: the DLC's runner fetches the bundle and runs the program in it, under
            # torchrun across every GPU of every instance.
            "sagemaker_program": "training/train.py",
            "sagemaker_submit_directory": f"{CHANNEL_ROOT}/{CODE_CHANNEL}/{inputs.code_file}",
            "sagemaker_torch_distributed_enabled": "true",
            "sagemaker_container_log_level": "20",
            "mode": _get("Parameters.Mode"),
            "epochs": _get("Parameters.Epochs"),
            "learning_rate": _get("Parameters.LearningRate"),
            "alpha": _get("Parameters.Alpha"),
            "temperature": _get("Parameters.Temperature"),
            "labels": _get("Parameters.Labels"),
        },
        "InputDataConfig": [
            _channel("train", _get("Parameters.TrainDataUri")),
            _channel("validation", _get("Parameters.ValidationDataUri")),
            _channel("model", _get("Parameters.BaseModelUri")),
            _channel("teacher", _get("Parameters.TeacherModelUri")),
            _channel(CODE_CHANNEL, inputs.code_uri),
        ],
        "OutputDataConfig": {"S3OutputPath": inputs.output_uri, "KmsKeyId": inputs.key_arn},
        "ResourceConfig": {
            "InstanceType": _get("Parameters.TrainingInstanceType"),
            "InstanceCount": _get("Parameters.TrainingInstanceCount"),
            "VolumeSizeInGB": 50,
            "VolumeKmsKeyId": inputs.key_arn,
        },
        "StoppingCondition": stopping,
        "EnableManagedSpotTraining": inputs.use_spot,
        # One prefix per execution: a spot restart or a step retry resumes from it; a new execution starts fresh.
        "CheckpointConfig": {
            "S3Uri": _join("", inputs.checkpoint_uri, _get("Execution.PipelineExecutionId"), "/"),
            "LocalPath": CHECKPOINT_LOCAL_PATH,
        },
        "EnableNetworkIsolation": inputs.network_isolation,
        "EnableInterContainerTrafficEncryption": True,
        "Environment": {"HF_HUB_OFFLINE": "1"} if inputs.network_isolation else {},
    }
    return {"Name": "Train", "Type": "Training", "Arguments": arguments, "RetryPolicies": RETRY_POLICIES}


def evaluate_step(inputs: PipelineInputs) -> dict:
    command = (
        # The input keeps the asset's S3 file name (<hash>.gz): unpack whichever archive arrived.
        f"cd {PROCESSING}/input/code && tar -xzf ./*.gz && python3 training/evaluate.py "
        f"--model_path {PROCESSING}/input/model --test_dir {PROCESSING}/input/test "
        f"--output_dir {PROCESSING}/evaluation --model_package_group {inputs.model_package_group} "
        f"--regression_margin {inputs.regression_margin}"
    )
    arguments = {
        "ProcessingResources": {"ClusterConfig": {
            "InstanceCount": 1, "InstanceType": inputs.processing_instance_type, "VolumeSizeInGB": 30,
            "VolumeKmsKeyId": inputs.key_arn,
        }},
        # The training image has the same torch/transformers train.py used; it runs on CPU too.
        "AppSpecification": {"ImageUri": inputs.training_image, "ContainerEntrypoint": ["/bin/bash", "-c", command]},
        "RoleArn": inputs.processing_role_arn,
        "ProcessingInputs": [
            _processing_input("code", inputs.code_uri),
            _processing_input("model", _get("Steps.Train.ModelArtifacts.S3ModelArtifacts")),
            _processing_input("test", _get("Parameters.TestDataUri")),
        ],
        "ProcessingOutputConfig": {
            "Outputs": [{"OutputName": "evaluation", "AppManaged": False, "S3Output": {
                "S3Uri": _evaluation_prefix(inputs), "LocalPath": f"{PROCESSING}/evaluation",
                "S3UploadMode": "EndOfJob",
            }}],
            "KmsKeyId": inputs.key_arn,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "Environment": {"HF_HUB_OFFLINE": "1", "AWS_DEFAULT_REGION": inputs.region},
    }
    return {
        "Name": "Evaluate", "Type": "Processing", "Arguments": arguments, "RetryPolicies": RETRY_POLICIES,
        "PropertyFiles": [
            {"PropertyFileName": "EvaluationReport", "OutputName": "evaluation", "FilePath": "evaluation.json"},
            {"PropertyFileName": "Baseline", "OutputName": "evaluation", "FilePath": "baseline.json"},
            {"PropertyFileName": "ModelData", "OutputName": "evaluation", "FilePath": MODEL_DATA_FILE},
        ],
    }


def condition_step(register: dict, fail: dict) -> dict:
    return {
        "Name": "CheckAccuracy",
        "Type": "Condition",
        "Arguments": {
            "Conditions": [
                {"Type": "GreaterThanOrEqualTo", "LeftValue": _accuracy(),
                 "RightValue": _get("Parameters.AccuracyThreshold")},
                {"Type": "GreaterThanOrEqualTo", "LeftValue": _accuracy(),
                 "RightValue": _json_get("Baseline", "minimum_accuracy")},
            ],
            "IfSteps": [register],
            "ElseSteps": [fail],
        },
    }


def register_step(inputs: PipelineInputs) -> dict:
    arguments = {
        "ModelPackageGroupName": inputs.model_package_group,
        "ModelPackageDescription": "Text classifier trained and evaluated by the training pipeline",
        "ModelApprovalStatus": "PendingManualApproval",
        "InferenceSpecification": {
            "Containers": [{
                "Image": inputs.inference_image,
                "ModelDataUrl": _get("Steps.Train.ModelArtifacts.S3ModelArtifacts"),
                "Environment": {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_REGION": inputs.region},
            }],
            "SupportedContentTypes": CONTENT_TYPES,
            "SupportedResponseMIMETypes": CONTENT_TYPES,
        },
        "CustomerMetadataProperties": {MODEL_DATA_SHA256: _json_get("ModelData", "sha256")},
        "ModelMetrics": {"ModelQuality": {"Statistics": {
            "ContentType": "application/json",
            "S3Uri": _join("", _evaluation_prefix(inputs), "/evaluation.json"),
        }}},
    }
    return {"Name": "Register", "Type": "RegisterModel", "Arguments": arguments}


def fail_step() -> dict:
    return {"Name": "AccuracyTooLow", "Type": "Fail", "Arguments": {"ErrorMessage": _join(
        " ", "Not registered: accuracy", _accuracy(), "must be >= the threshold", _get("Parameters.AccuracyThreshold"),
        "and >= the approved model's accuracy minus the margin", _json_get("Baseline", "minimum_accuracy"),
    )}}


def _evaluation_prefix(inputs: PipelineInputs):
    return _join("", inputs.evaluation_uri, _get("Execution.PipelineExecutionId"))


def _accuracy() -> dict:
    return _json_get("EvaluationReport", EVALUATION_PATH)


def _json_get(property_file: str, path: str) -> dict:
    return {"Std:JsonGet": {"PropertyFile": _get(f"Steps.Evaluate.PropertyFiles.{property_file}"), "Path": path}}


def _get(reference: str) -> dict:
    return {"Get": reference}


def _join(separator: str, *values) -> dict:
    return {"Std:Join": {"On": separator, "Values": list(values)}}


def _channel(name: str, uri) -> dict:
    return {"ChannelName": name, "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated",
    }}}


def _processing_input(name: str, uri) -> dict:
    return {"InputName": name, "AppManaged": False, "S3Input": {
        "S3Uri": uri, "LocalPath": f"{PROCESSING}/input/{name}", "S3DataType": "S3Prefix", "S3InputMode": "File",
        "S3DataDistributionType": "FullyReplicated",
    }}
