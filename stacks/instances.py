"""What SageMaker accepts of an instance type: the types each API takes, and which have local storage.

Both facts come from outside the project. The types are the enums of botocore's SageMaker model
(``TrainingInstanceType``, ``ProcessingInstanceType``, ...), the model boto3 sends requests with. Local
storage follows the SageMaker SDK (sagemaker-core, ``common_utils.volume_size_supported``, which
``instance_supports_kms`` returns): those instances carry NVMe volumes that SageMaker encrypts itself, and
botocore's documentation of ``ResourceConfig.VolumeKmsKeyId`` says "You can't request a VolumeKmsKeyId when
using an instance type with local storage". tests/test_instances.py holds this module's rule equal to the
SDK's function for every instance type botocore knows.
"""

from __future__ import annotations

from functools import cache

from botocore.loaders import create_loader
from botocore.model import ServiceModel

TRAINING = "TrainingInstanceType"
PROCESSING = "ProcessingInstanceType"
TRANSFORM = "TransformInstanceType"
HOSTING = "ProductionVariantInstanceType"

# The SDK's list beside its rule that a family with a "d" (c5d, g4dn, p4d) has local storage.
_LOCAL_STORAGE_FAMILIES = ("g5", "g6", "g7e", "p5", "p6-b200", "trn1", "trn2")

LOCAL_STORAGE = "local NVMe storage, which SageMaker encrypts itself and which takes no volume KMS key"
EBS_STORAGE = "an EBS volume, which takes the stage's KMS key"


def family(instance_type: str) -> str:
    """ml.g5.2xlarge -> g5."""
    return instance_type.split(".")[1]


def has_instance_store(instance_type: str) -> bool:
    """ml.g5.xlarge -> True: its volume is local NVMe, and SageMaker refuses a KMS key for it."""
    name = family(instance_type)
    return "d" in name or name.startswith(_LOCAL_STORAGE_FAMILIES)


def has_gpu(instance_type: str) -> bool:
    """ml.g5.xlarge -> True: the SageMaker SDK's rule (fw_utils._is_gpu_instance), a family starting with p or g."""
    return family(instance_type).startswith(("p", "g"))


@cache
def training_input_modes() -> tuple[str, ...]:
    """botocore's TrainingInputMode enum: File, FastFile, Pipe."""
    return tuple(sagemaker_model().shape_for("TrainingInputMode").enum)


def storage(instance_type: str) -> str:
    return LOCAL_STORAGE if has_instance_store(instance_type) else EBS_STORAGE


@cache
def service_model(service: str):
    """botocore's model of ``service`` ("sagemaker", "lambda", ...), loaded once per process. Read with botocore's
    loader alone: a session would read the caller's AWS config first, and a stale AWS_PROFILE would break an
    offline synth (issue 47)."""
    return ServiceModel(create_loader().load_service_model(service, "service-2"), service_name=service)


def sagemaker_model():
    """botocore's SageMaker service model."""
    return service_model("sagemaker")


@cache
def accepted(api_type: str) -> tuple[str, ...]:
    """Every instance type botocore's SageMaker model lists for ``api_type`` (e.g. TRAINING), in its order."""
    return tuple(sagemaker_model().shape_for(api_type).enum)


def same_storage(api_type: str, instance_type: str) -> list[str]:
    """The types of ``api_type`` whose storage is of ``instance_type``'s kind: what a request built for
    ``instance_type`` (with or without a volume key) can run on."""
    local = has_instance_store(instance_type)
    return [t for t in accepted(api_type) if has_instance_store(t) == local]


def family_patterns(instance_types: list[str]) -> list[str]:
    """IAM patterns that match these types' families: ml.g5.* for ml.g5.xlarge and ml.g5.2xlarge."""
    return sorted({f"ml.{family(t)}.*" for t in instance_types})


def training_types(configured: str) -> list[str]:
    """The training types a job built for ``configured`` runs on: a GPU (the image is the GPU DLC) and the same
    kind of storage (the request carries a volume key or not)."""
    return [t for t in same_storage(TRAINING, configured) if has_gpu(t)]


def storage_mismatch(configured: str, requested: str) -> str | None:
    """Why a training job built for ``configured`` cannot run on ``requested`` (None when it can)."""
    if requested in training_types(configured):
        return None
    if requested not in accepted(TRAINING):
        return f"{requested} is not a SageMaker training instance type"
    if not has_gpu(requested):
        return f"{requested} has no GPU, and this stage's training jobs run the GPU DLC under torch_distributed"
    return (
        f"{requested} has {storage(requested)}, but this stage's training jobs are built for {configured}, "
        f"which has {storage(configured)}"
    )
