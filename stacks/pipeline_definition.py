"""The SageMaker Pipeline definitions, written as the documented pipeline-definition JSON.

Fine-tune: Train (spot, checkpointed) -> Evaluate -> CheckAccuracy -> Register (-> BatchGiven? -> BatchModel ->
ScoreBatch, when the execution names a batch input) or AccuracyTooLow.
Distillation: TeacherGiven? -> [TrainTeacher ->] DistillStudent -> EvaluateStudent (student and teacher)
-> CheckStudent -> RegisterStudent or StudentRejected. In both, the Check step also compares with the
Baseline step's output: a Lambda step that reads the registry, so that Evaluate, which reads datasets
and models, runs network-isolated. Each job step's ``Arguments`` is the request of the API it calls
(CreateTrainingJob, CreateProcessingJob, CreateModelPackage, CreateModel, CreateTransformJob), less the
job name, which Pipelines generates; the Lambda step's is the function's event. Values may be CDK tokens:
the construct serializes the dict with ``Stack.to_json_string``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from stacks.batch_request import batch_model_environment, transform_arguments
from stacks.config import STAGE_TAG
from stacks.instances import has_instance_store, storage, training_types
from training import contract as c

# What the handler decodes and encodes (inference/payloads.py), as the registered package declares it.
CONTENT_TYPES = [c.JSON, c.JSONLINES, c.CSV]
# Spot capacity and transient job failures are retried; the retried job resumes from the checkpoint prefix.
RETRY_POLICIES = [
    {
        "ExceptionType": ["SageMaker.CAPACITY_ERROR", "SageMaker.RESOURCE_LIMIT", "SageMaker.JOB_INTERNAL_ERROR"],
        "IntervalSeconds": 60,
        "BackoffRate": 2.0,
        "MaxAttempts": 5,
    },
    {
        "ExceptionType": ["Step.SERVICE_FAULT", "Step.THROTTLING"],
        "IntervalSeconds": 10,
        "BackoffRate": 2.0,
        "MaxAttempts": 5,
    },
]


@dataclass(frozen=True, kw_only=True)
class PipelineInputs:
    """Everything the definition needs; strings may be CDK tokens."""

    region: str
    stage: str
    training_image: str
    inference_image: str
    training_role_arn: str
    processing_role_arn: str
    batch_role_arn: str
    baseline_function_arn: str
    code_uri: str
    code_file: str
    dataset_uri: str
    base_model_uri: str
    teacher_base_model_uri: str
    output_uri: str
    evaluation_uri: str
    batch_output_uri: str
    checkpoint_uri: str
    key_arn: str
    model_package_group: str
    training_instance_type: str
    training_instance_count: int
    training_input_mode: str
    torch_distributed: bool
    processing_instance_type: str
    use_spot: bool
    max_runtime_seconds: int
    max_wait_seconds: int
    network_isolation: bool
    min_accuracy: float
    regression_margin: float
    min_class_recall: float
    min_teacher_ratio: float
    serve_int8: bool


def parameters(inputs: PipelineInputs) -> list[dict]:
    """Fine-tune pipeline parameters, overridable per execution (console, CLI, EventBridge)."""
    return [
        *_shared_parameters(inputs),
        {"Name": "Epochs", "Type": "String", "DefaultValue": c.DEFAULT_EPOCHS},
        {"Name": "LearningRate", "Type": "String", "DefaultValue": c.DEFAULT_LEARNING_RATE},
        {"Name": "BaseModelUri", "Type": "String", "DefaultValue": inputs.base_model_uri},
        # Optional: a file or prefix under the stage's batch input, scored by the registered model (BatchGiven).
        {"Name": "BatchInputUri", "Type": "String", "DefaultValue": ""},
        {"Name": "BatchContentType", "Type": "String", "DefaultValue": c.JSONLINES},
        {"Name": "BatchOutputUri", "Type": "String", "DefaultValue": f"{inputs.batch_output_uri}pipeline/"},
    ]


def distillation_parameters(inputs: PipelineInputs) -> list[dict]:
    return [
        *_shared_parameters(inputs),
        {"Name": "TeacherEpochs", "Type": "String", "DefaultValue": c.DEFAULT_TEACHER_EPOCHS},
        {"Name": "TeacherLearningRate", "Type": "String", "DefaultValue": c.DEFAULT_TEACHER_LEARNING_RATE},
        {"Name": "TeacherBaseModelUri", "Type": "String", "DefaultValue": inputs.teacher_base_model_uri},
        # An approved teacher's model.tar.gz replaces TrainTeacher; `textclf pipeline start --teacher-package`
        # resolves it (synth makes no lookups). Empty: train the teacher in this execution.
        {"Name": "TeacherModelDataUrl", "Type": "String", "DefaultValue": ""},
        {"Name": "TeacherPackageArn", "Type": "String", "DefaultValue": ""},
        {"Name": "Epochs", "Type": "String", "DefaultValue": c.DEFAULT_EPOCHS},
        {"Name": "LearningRate", "Type": "String", "DefaultValue": c.DEFAULT_LEARNING_RATE},
        # The student: BaseModelUri (DistilBERT by default), or with StudentLayers, e.g. 0,2,4, a copy of
        # the teacher that keeps only those layers.
        {"Name": "BaseModelUri", "Type": "String", "DefaultValue": inputs.base_model_uri},
        {"Name": "StudentLayers", "Type": "String", "DefaultValue": ""},
        {"Name": "Alpha", "Type": "String", "DefaultValue": c.DEFAULT_ALPHA},
        {"Name": "Temperature", "Type": "String", "DefaultValue": c.DEFAULT_TEMPERATURE},
        {"Name": "MinTeacherRatio", "Type": "String", "DefaultValue": str(inputs.min_teacher_ratio)},
    ]


def parameter_names(*, distillation: bool) -> list[str]:
    """What an execution may set, as declared above: `textclf pipeline start` checks each --param against them before
    any call. Only the defaults depend on the stage's inputs, so blank inputs name the same parameters."""
    blank: dict[str, Any] = {field.name: "" for field in fields(PipelineInputs)}
    declared = distillation_parameters if distillation else parameters
    return [parameter["Name"] for parameter in declared(PipelineInputs(**blank))]


def _shared_parameters(inputs: PipelineInputs) -> list[dict]:
    return [
        {"Name": "TrainingInstanceType", "Type": "String", "DefaultValue": inputs.training_instance_type},
        {"Name": "TrainingInstanceCount", "Type": "Integer", "DefaultValue": inputs.training_instance_count},
        {"Name": "TrainDataUri", "Type": "String", "DefaultValue": f"{inputs.dataset_uri}train/"},
        {"Name": "ValidationDataUri", "Type": "String", "DefaultValue": f"{inputs.dataset_uri}validation/"},
        {"Name": "TestDataUri", "Type": "String", "DefaultValue": f"{inputs.dataset_uri}test/"},
        # Texts unlike the test split, which evaluation also scores; int8 must agree with fp32 on 99% of them.
        # `textclf data upload` always writes this prefix: the --shift file, or contract.NO_SHIFT_FILE (no data).
        {"Name": "ShiftDataUri", "Type": "String", "DefaultValue": f"{inputs.dataset_uri}{c.SHIFT}/"},
        {"Name": "AccuracyThreshold", "Type": "Float", "DefaultValue": inputs.min_accuracy},
        # Accuracy hides a lopsided model: every class's recall must reach this too.
        {"Name": "MinClassRecall", "Type": "Float", "DefaultValue": inputs.min_class_recall},
        # Label names in id order, e.g. negative,positive; empty: the data's own label values, sorted.
        {"Name": "Labels", "Type": "String", "DefaultValue": ""},
        # Evaluations without a gain before training stops and exports its best weights (0: off).
        {"Name": "EarlyStoppingPatience", "Type": "String", "DefaultValue": c.PIPELINE_EARLY_STOPPING_PATIENCE},
        # Evaluate every N steps; 0: at the end of each epoch.
        {"Name": "EvalSteps", "Type": "String", "DefaultValue": c.DEFAULT_EVAL_STEPS},
    ]


def definition(inputs: PipelineInputs) -> dict:
    """Fine-tune the base model, evaluate it as served, register it if it passes the gate; score a batch with it
    when the execution names one (BatchInputUri)."""
    model = _artifacts("Train")
    steps = _gated_registration(
        inputs, names=FINETUNE_NAMES, model=model, teacher=None, after_register=[batch_step(inputs, FINETUNE_NAMES)]
    )
    train = _finetune_step("Train", inputs, model="BaseModelUri", epochs="Epochs", learning_rate="LearningRate")
    return _document(parameters(inputs), [baseline_step(inputs), instance_guard(inputs, [train, *steps])])


def distillation_definition(inputs: PipelineInputs) -> dict:
    """Train a teacher (or take an approved one), distill a student from it, register the student if it passes."""
    trained = _distillation_branch(
        inputs, TRAINED_TEACHER_NAMES, teacher_uri=_artifacts("TrainTeacher"), teacher_source=_artifacts("TrainTeacher")
    )
    teacher = _finetune_step(
        "TrainTeacher", inputs, model="TeacherBaseModelUri", epochs="TeacherEpochs", learning_rate="TeacherLearningRate"
    )
    given = _distillation_branch(
        inputs,
        GIVEN_TEACHER_NAMES,
        teacher_uri=_get("Parameters.TeacherModelDataUrl"),
        teacher_source=_get("Parameters.TeacherPackageArn"),
    )
    choose = {
        "Name": "TeacherGiven",
        "Type": "Condition",
        "Arguments": {
            "Conditions": [{"Type": "Equals", "LeftValue": _get("Parameters.TeacherModelDataUrl"), "RightValue": ""}],
            "IfSteps": [teacher, *trained],
            "ElseSteps": given,
        },
    }
    return _document(distillation_parameters(inputs), [baseline_step(inputs), instance_guard(inputs, [choose])])


INSTANCE_GUARD_STEPS = ("TrainingInstanceFits", "TrainingInstanceRefused")


def instance_guard(inputs: PipelineInputs, steps: list[dict]) -> dict:
    """Run ``steps`` only on a TrainingInstanceType with a GPU and the storage their training jobs are built for.

    A job carries the stage's volume key exactly when the configured type has an EBS volume: SageMaker refuses a
    volume key on local storage, and the pipeline role may start jobs only as built (stacks.roles). The image is
    the GPU DLC, run under torch_distributed (GPU types only: stacks.config). An execution started with a type
    of the other kind, one without a GPU, or no training type at all, ends here, before any job starts, with the
    fix named.
    """
    guard, refused = INSTANCE_GUARD_STEPS
    configured = inputs.training_instance_type
    requested = _get("Parameters.TrainingInstanceType")
    message = (
        f" cannot run this stage's training jobs: they are built for SageMaker training types with a GPU and "
        f"{storage(configured)}, like {configured} (training_instance_type in cdk.json). Fix: start the execution "
        f"with a type of that kind, e.g. {configured}, or set training_instance_type in cdk.json to the type you "
        "want and deploy the stage."
    )
    return {
        "Name": guard,
        "Type": "Condition",
        "Arguments": {
            "Conditions": [{"Type": "In", "QueryValue": requested, "Values": training_types(configured)}],
            "IfSteps": steps,
            "ElseSteps": [
                {
                    "Name": refused,
                    "Type": "Fail",
                    "Arguments": {"ErrorMessage": _join("", "TrainingInstanceType ", requested, message)},
                }
            ],
        },
    }


@dataclass(frozen=True)
class StepNames:
    train: str
    evaluate: str
    check: str
    register: str
    fail: str


BASELINE_STEP = "Baseline"
FINETUNE_NAMES = StepNames("Train", "Evaluate", "CheckAccuracy", "Register", "AccuracyTooLow")
TRAINED_TEACHER_NAMES = StepNames(
    "DistillStudent", "EvaluateStudent", "CheckStudent", "RegisterStudent", "StudentRejected"
)
GIVEN_TEACHER_NAMES = StepNames(
    "DistillFromGivenTeacher",
    "EvaluateWithGivenTeacher",
    "CheckWithGivenTeacher",
    "RegisterWithGivenTeacher",
    "RejectedWithGivenTeacher",
)


def _finetune_step(name: str, inputs: PipelineInputs, *, model: str, epochs: str, learning_rate: str) -> dict:
    """A fine-tuning job whose base model, epochs and learning rate are these pipeline parameters."""
    return _training_step(
        name,
        inputs,
        model_channel=model,
        hyperparameters={
            "mode": "finetune",
            "epochs": _get(f"Parameters.{epochs}"),
            "learning_rate": _get(f"Parameters.{learning_rate}"),
        },
    )


def _distillation_branch(inputs: PipelineInputs, names: StepNames, *, teacher_uri, teacher_source) -> list[dict]:
    distill = _training_step(
        names.train,
        inputs,
        model_channel="BaseModelUri",
        teacher_uri=teacher_uri,
        hyperparameters={
            "mode": "distill",
            "epochs": _get("Parameters.Epochs"),
            "learning_rate": _get("Parameters.LearningRate"),
            "alpha": _get("Parameters.Alpha"),
            "temperature": _get("Parameters.Temperature"),
            "student_layers": _get("Parameters.StudentLayers"),
        },
    )
    teacher = {"uri": teacher_uri, "source": teacher_source}
    return [distill, *_gated_registration(inputs, names=names, model=_artifacts(names.train), teacher=teacher)]


def _document(declared: list[dict], steps: list[dict]) -> dict:
    return {"Version": "2020-12-01", "Metadata": {}, "Parameters": declared, "Steps": steps}


def _gated_registration(
    inputs: PipelineInputs, *, names: StepNames, model, teacher: dict | None, after_register: list[dict] | None = None
) -> list[dict]:
    register = register_step(inputs, names, model=model, teacher=teacher)
    fail = fail_step(names, teacher=teacher is not None)
    return [
        evaluate_step(inputs, names, model=model, teacher=teacher),
        condition_step(names, [register, *(after_register or [])], fail, teacher=teacher is not None),
    ]


def _training_step(
    name: str, inputs: PipelineInputs, *, model_channel: str, hyperparameters: dict, teacher_uri=None
) -> dict:
    stopping: dict[str, Any] = {"MaxRuntimeInSeconds": inputs.max_runtime_seconds}
    if inputs.use_spot:
        stopping["MaxWaitTimeInSeconds"] = inputs.max_wait_seconds
    # The data may stream (FastFile, training_input_mode); the model and code channels are always copied whole.
    data = {"InputMode": inputs.training_input_mode}
    channels = [
        {**_channel(c.TRAIN, _get("Parameters.TrainDataUri")), **data},
        {**_channel(c.VALIDATION, _get("Parameters.ValidationDataUri")), **data},
        _channel(c.MODEL, _get(f"Parameters.{model_channel}")),
        _channel(c.CODE, inputs.code_uri),
    ]
    if teacher_uri is not None:
        # A job's model.tar.gz: train.py unpacks it safely from the channel folder.
        channels.insert(3, _channel(c.TEACHER, teacher_uri))
    arguments = {
        "AlgorithmSpecification": {
            "TrainingImage": inputs.training_image,
            "TrainingInputMode": "File",
            "MetricDefinitions": c.METRIC_DEFINITIONS,
        },
        "RoleArn": inputs.training_role_arn,
        "HyperParameters": {
            # Script mode: the DLC's runner fetches the bundle and runs the program in it, under
            # torchrun across every GPU of every instance (training_distribution).
            "sagemaker_program": c.TRAINING_PROGRAM,
            "sagemaker_submit_directory": f"{c.CHANNEL_ROOT}/{c.CODE}/{inputs.code_file}",
            **({"sagemaker_torch_distributed_enabled": "true"} if inputs.torch_distributed else {}),
            "sagemaker_container_log_level": "20",
            **hyperparameters,
            "labels": _get("Parameters.Labels"),
            "early_stopping_patience": _get("Parameters.EarlyStoppingPatience"),
            "eval_steps": _get("Parameters.EvalSteps"),
        },
        "InputDataConfig": channels,
        "OutputDataConfig": {"S3OutputPath": inputs.output_uri, "KmsKeyId": inputs.key_arn},
        "ResourceConfig": {
            "InstanceType": _get("Parameters.TrainingInstanceType"),
            "InstanceCount": _get("Parameters.TrainingInstanceCount"),
            "VolumeSizeInGB": 50,
            **_volume_key(inputs, inputs.training_instance_type),
        },
        "StoppingCondition": stopping,
        "EnableManagedSpotTraining": inputs.use_spot,
        # One prefix per execution and step: a spot restart or a step retry resumes from it; a new
        # execution starts fresh, and the teacher and the student never read each other's state.
        "CheckpointConfig": {
            "S3Uri": _join("", inputs.checkpoint_uri, _get("Execution.PipelineExecutionId"), f"/{name}/"),
            "LocalPath": c.CHECKPOINT_DIR,
        },
        "EnableNetworkIsolation": inputs.network_isolation,
        "EnableInterContainerTrafficEncryption": True,
        "Environment": {"HF_HUB_OFFLINE": "1"} if inputs.network_isolation else {},
        "Tags": _stage_tags(inputs),
    }
    return {"Name": name, "Type": "Training", "Arguments": arguments, "RetryPolicies": RETRY_POLICIES}


def baseline_step(inputs: PipelineInputs) -> dict:
    """The latest approved model's accuracy less the margin (training/baseline.py); no job, no data."""
    return {
        "Name": BASELINE_STEP,
        "Type": "Lambda",
        "Arguments": {
            c.BASELINE_GROUP_ARG: inputs.model_package_group,
            c.BASELINE_MARGIN_ARG: inputs.regression_margin,
        },
        "FunctionArn": inputs.baseline_function_arn,
        "OutputParameters": [
            {"OutputName": c.BASELINE_MINIMUM, "OutputType": "Float"},
            {"OutputName": c.BASELINE_APPROVED, "OutputType": "String"},
        ],
    }


def evaluate_step(inputs: PipelineInputs, names: StepNames, *, model, teacher: dict | None) -> dict:
    script = (
        # The input keeps the asset's S3 file name (<hash>.gz): unpack whichever archive arrived. The
        # evaluation scores through the endpoint's own modules, so inference/ goes on PYTHONPATH as the
        # endpoint has its code/ folder on it.
        f"cd {c.processing_input(c.CODE)} && tar -xzf ./*.gz && "
        f'PYTHONPATH="$PWD/inference${{PYTHONPATH:+:$PYTHONPATH}}" exec python3 {c.EVALUATION_PROGRAM} "$@"'
    )
    arguments_list = [
        "--model_path",
        c.processing_input(c.MODEL),
        "--test_dir",
        c.processing_input(c.TEST),
        "--shift_dir",
        c.processing_input(c.SHIFT),
        "--output_dir",
        c.EVALUATION_OUTPUT,
        "--serve",
        "int8" if inputs.serve_int8 else "fp32",
    ]
    processing_inputs = [
        _processing_input(c.CODE, inputs.code_uri),
        _processing_input(c.MODEL, model),
        _processing_input(c.TEST, _get("Parameters.TestDataUri")),
        _processing_input(c.SHIFT, _get("Parameters.ShiftDataUri")),
    ]
    if teacher is not None:
        arguments_list += [
            "--teacher_path",
            c.processing_input(c.TEACHER),
            "--teacher_source",
            teacher["source"],
            "--min_teacher_ratio",
            _get("Parameters.MinTeacherRatio"),
        ]
        processing_inputs.append(_processing_input(c.TEACHER, teacher["uri"]))
    arguments = {
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": inputs.processing_instance_type,
                "VolumeSizeInGB": 30,
                **_volume_key(inputs, inputs.processing_instance_type),
            }
        },
        # The training image has the same torch/transformers train.py used; it runs on CPU too.
        "AppSpecification": {
            "ImageUri": inputs.training_image,
            # bash's $0, then the arguments: "$@" passes them to evaluate.py unchanged.
            "ContainerEntrypoint": ["/bin/bash", "-c", script, "evaluate"],
            "ContainerArguments": arguments_list,
        },
        "RoleArn": inputs.processing_role_arn,
        "ProcessingInputs": processing_inputs,
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "evaluation",
                    "AppManaged": False,
                    "S3Output": {
                        "S3Uri": _evaluation_prefix(inputs, names),
                        "LocalPath": c.EVALUATION_OUTPUT,
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ],
            "KmsKeyId": inputs.key_arn,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        # It reads datasets and models and calls no AWS API: no network, no credentials in the container.
        "NetworkConfig": {"EnableNetworkIsolation": True, "EnableInterContainerTrafficEncryption": True},
        "Environment": {"HF_HUB_OFFLINE": "1"},
        "Tags": _stage_tags(inputs),
    }
    return {
        "Name": names.evaluate,
        "Type": "Processing",
        "Arguments": arguments,
        "RetryPolicies": RETRY_POLICIES,
        "PropertyFiles": [
            {"PropertyFileName": "EvaluationReport", "OutputName": "evaluation", "FilePath": c.EVALUATION_FILE},
            {"PropertyFileName": "Gate", "OutputName": "evaluation", "FilePath": c.GATE_FILE},
            {"PropertyFileName": "ModelData", "OutputName": "evaluation", "FilePath": c.MODEL_DATA_FILE},
        ],
    }


def condition_step(names: StepNames, passed: list[dict], fail: dict, *, teacher: bool) -> dict:
    accuracy = _accuracy(names)
    conditions = [
        {"Type": "GreaterThanOrEqualTo", "LeftValue": accuracy, "RightValue": _get("Parameters.AccuracyThreshold")},
        {
            "Type": "GreaterThanOrEqualTo",
            "LeftValue": accuracy,
            "RightValue": _baseline(c.BASELINE_MINIMUM),
        },
        {
            "Type": "GreaterThanOrEqualTo",
            "LeftValue": _json_get(names, "Gate", c.GATE_MIN_CLASS_RECALL),
            "RightValue": _get("Parameters.MinClassRecall"),
        },
    ]
    if teacher:
        conditions.append(
            {
                "Type": "GreaterThanOrEqualTo",
                "LeftValue": accuracy,
                "RightValue": _json_get(names, "Gate", c.GATE_TEACHER_FLOOR),
            }
        )
    return {
        "Name": names.check,
        "Type": "Condition",
        "Arguments": {"Conditions": conditions, "IfSteps": passed, "ElseSteps": [fail]},
    }


BATCH_STEPS = ("BatchGiven", "BatchModel", "ScoreBatch")


def batch_step(inputs: PipelineInputs, names: StepNames) -> dict:
    """When BatchInputUri is set, once the model is registered: a model of the trained weights, run as the batch
    role and network-isolated, and a transform job of it over that input (the same arguments `textclf batch`
    sends), answers under BatchOutputUri/<execution id>/."""
    given, model_name, transform_name = BATCH_STEPS
    model = {
        "Name": model_name,
        "Type": "Model",
        "Arguments": {
            "ExecutionRoleArn": inputs.batch_role_arn,
            "PrimaryContainer": {
                "Image": inputs.inference_image,
                "ModelDataUrl": _artifacts(names.train),
                "Environment": {
                    **_serving_environment(inputs, names),
                    **batch_model_environment(int8=inputs.serve_int8),
                },
            },
            "EnableNetworkIsolation": True,
            "Tags": _stage_tags(inputs),
        },
    }
    transform = {
        "Name": transform_name,
        "Type": "Transform",
        "Arguments": transform_arguments(
            model_name=_get(f"Steps.{model_name}.ModelName"),
            input_uri=_get("Parameters.BatchInputUri"),
            output_uri=_join("", _get("Parameters.BatchOutputUri"), _get("Execution.PipelineExecutionId"), "/"),
            content_type=_get("Parameters.BatchContentType"),
            key_arn=inputs.key_arn,
            instance_type=inputs.processing_instance_type,
            instance_count=1,
            stage=inputs.stage,
        ),
        "RetryPolicies": RETRY_POLICIES,
    }
    return {
        "Name": given,
        "Type": "Condition",
        "DependsOn": [names.register],
        "Arguments": {
            "Conditions": [
                {
                    "Type": "Not",
                    "Expression": {"Type": "Equals", "LeftValue": _get("Parameters.BatchInputUri"), "RightValue": ""},
                }
            ],
            "IfSteps": [model, transform],
            "ElseSteps": [],
        },
    }


def register_step(inputs: PipelineInputs, names: StepNames, *, model, teacher: dict | None) -> dict:
    metadata = {
        c.MODEL_DATA_SHA256: _json_get(names, "ModelData", c.MODEL_DATA_SHA256_FIELD),
        "Served": _json_get(names, "Gate", c.GATE_SERVED),
        **{name: _gate_metadata(names, key) for name, key in c.PACKAGE_METADATA.items()},
        **{
            name: _json_get(names, "Gate", c.json_path(c.GATE_PROBES, name))
            for name in map(c.probe_metadata_name, range(c.PROBE_COUNT))
        },
        **{name: _json_get(names, "Gate", c.json_path(c.GATE_MONITOR, name)) for name in c.MONITOR_METADATA},
    }
    if teacher is not None:
        metadata["TeacherAccuracy"] = _gate_metadata(names, c.GATE_TEACHER_ACCURACY)
        metadata["TeacherModelDataUrl"] = teacher["uri"]
        metadata["TeacherSource"] = _gate_metadata(names, c.GATE_TEACHER_SOURCE)
    arguments = {
        "ModelPackageGroupName": inputs.model_package_group,
        "ModelPackageDescription": (
            "Student distilled from a teacher, evaluated as served"
            if teacher
            else "Text classifier fine-tuned and evaluated as served"
        ),
        "ModelApprovalStatus": "PendingManualApproval",
        "InferenceSpecification": {
            "Containers": [
                {
                    "Image": inputs.inference_image,
                    "ModelDataUrl": model,
                    "Environment": _serving_environment(inputs, names),
                }
            ],
            "SupportedContentTypes": CONTENT_TYPES,
            "SupportedResponseMIMETypes": CONTENT_TYPES,
        },
        "CustomerMetadataProperties": metadata,
        "ModelMetrics": {
            "ModelQuality": {
                "Statistics": {
                    "ContentType": "application/json",
                    "S3Uri": _join("", _evaluation_prefix(inputs, names), f"/{c.EVALUATION_FILE}"),
                }
            },
            # What the stage's monitor compares served traffic with, beside the evaluation it comes from.
            "ModelDataQuality": {
                "Statistics": {
                    "ContentType": "application/json",
                    "S3Uri": _join("", _evaluation_prefix(inputs, names), f"/{c.MONITOR_BASELINE_FILE}"),
                }
            },
        },
    }
    return {"Name": names.register, "Type": "RegisterModel", "Arguments": arguments}


def fail_step(names: StepNames, *, teacher: bool) -> dict:
    gate = _reader(names, "Gate")
    message = [
        "Not registered: accuracy",
        _accuracy(names),
        "(served as",
        gate(c.GATE_SERVED),
        ") must be >= the threshold",
        _get("Parameters.AccuracyThreshold"),
        "and >= the approved model's accuracy minus the margin",
        _baseline(c.BASELINE_MINIMUM),
        "; every class's recall must be >=",
        _get("Parameters.MinClassRecall"),
        "and the lowest is",
        gate(c.GATE_MIN_CLASS_RECALL),
        "(",
        gate(c.GATE_MIN_CLASS_RECALL_LABEL),
        ")",
    ]
    if teacher:
        message += [
            "; the student must reach",
            _get("Parameters.MinTeacherRatio"),
            "x the teacher's accuracy",
            gate(c.GATE_TEACHER_ACCURACY),
            "=",
            gate(c.GATE_TEACHER_FLOOR),
        ]
    return {"Name": names.fail, "Type": "Fail", "Arguments": {"ErrorMessage": _join(" ", *message)}}


def _serving_environment(inputs: PipelineInputs, names: StepNames) -> dict:
    """The trained model's container environment, as registered and as the batch step runs it."""
    return serving_environment(region=inputs.region, int8_verified=_json_get(names, "Gate", c.GATE_INT8_VERIFIED))


def serving_environment(*, region: str, int8_verified: Any) -> dict:
    """What a registered package's container carries, and all a release may (stacks.delivery.config)."""
    return {
        c.PROGRAM_ENV: c.SERVING_PROGRAM,
        c.REGION_ENV: region,
        # Evaluation's int8 verdict travels with the package to every stage.
        c.INT8_VERIFIED_ENV: int8_verified,
    }


def _volume_key(inputs: PipelineInputs, instance_type: str) -> dict:
    """The stage's key for the job's EBS volume; none on local storage, where SageMaker refuses one."""
    return {} if has_instance_store(instance_type) else {"VolumeKmsKeyId": inputs.key_arn}


def _stage_tags(inputs: PipelineInputs) -> list[dict]:
    """The pipeline role may start, see and stop only jobs carrying its stage's tag (stacks.roles)."""
    return [{"Key": STAGE_TAG, "Value": inputs.stage}]


def _baseline(output: str) -> dict:
    return _get(f"Steps.{BASELINE_STEP}.OutputParameters['{output}']")


def _gate_metadata(names: StepNames, key: str) -> dict:
    return _json_get(names, "Gate", c.json_path(c.GATE_METADATA, key))


def _reader(names: StepNames, property_file: str):
    return lambda path: _json_get(names, property_file, path)


def _evaluation_prefix(inputs: PipelineInputs, names: StepNames):
    return _join("", inputs.evaluation_uri, _get("Execution.PipelineExecutionId"), f"/{names.evaluate}")


def _artifacts(step: str) -> dict:
    return _get(f"Steps.{step}.ModelArtifacts.S3ModelArtifacts")


def _accuracy(names: StepNames) -> dict:
    return _json_get(names, "EvaluationReport", c.json_path(*c.ACCURACY_PATH))


def _json_get(names: StepNames, property_file: str, path: str) -> dict:
    return {
        "Std:JsonGet": {"PropertyFile": _get(f"Steps.{names.evaluate}.PropertyFiles.{property_file}"), "Path": path}
    }


def _get(reference: str) -> dict:
    return {"Get": reference}


def _join(separator: str, *values) -> dict:
    return {"Std:Join": {"On": separator, "Values": list(values)}}


def _channel(name: str, uri) -> dict:
    return {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": uri,
                "S3DataDistributionType": "FullyReplicated",
            }
        },
    }


def _processing_input(name: str, uri) -> dict:
    return {
        "InputName": name,
        "AppManaged": False,
        "S3Input": {
            "S3Uri": uri,
            "LocalPath": c.processing_input(name),
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            "S3DataDistributionType": "FullyReplicated",
        },
    }
