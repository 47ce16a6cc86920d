"""What SageMaker refuses beyond botocore's ParamValidator, each rule from botocore's model, with planted defects.

Every defect is one edit of the synthesized Train request that ParamValidator (types, required members, minimums)
lets through, and that the service refuses: rehearsal.sagemaker.rules must refuse it too, naming the rule.
"""

from __future__ import annotations

import copy

import botocore.session
import pytest
from botocore.validate import ParamValidator
from test_training_pipeline import INPUTS, resolve, steps

from rehearsal.sagemaker.pipelines import StepError
from rehearsal.sagemaker.rules import validate_request
from stacks.pipeline_definition import PipelineInputs, definition


@pytest.fixture(scope="module")
def train_request() -> dict:
    document = definition(PipelineInputs(**INPUTS))
    defaults = {p["Name"]: p["DefaultValue"] for p in document["Parameters"]}
    request = resolve(steps(document)["Train"]["Arguments"], defaults)
    return {**request, "TrainingJobName": "pipelines-abc123-Train"}


def _planted(request: dict, edit) -> dict:
    planted = copy.deepcopy(request)
    edit(planted)
    return planted


PLANTED = {
    "instance-type-typo": (
        lambda r: r["ResourceConfig"].update(InstanceType="ml.g5.xlarg"),
        "ResourceConfig.InstanceType: 'ml.g5.xlarg' is not one of TrainingInstanceType's",
    ),
    "tag-value-too-long": (
        lambda r: r["Tags"][0].update(Value="d" * 257),
        "Tags[0].Value: 257 characters, over TagValue's maximum 256",
    ),
    "job-name-pattern": (
        lambda r: r.update(TrainingJobName="pipelines_abc_Train"),
        "TrainingJobName: 'pipelines_abc_Train' does not match TrainingJobName's pattern",
    ),
    "output-key-pattern": (
        lambda r: r["OutputDataConfig"].update(KmsKeyId="arn:aws:kms:us-east-1:111122223333:key/a b"),
        "does not match KmsKeyId's pattern",  # the value is cut at 40 characters, as every echoed value is
    ),
    "spot-wait-shorter-than-run": (
        lambda r: r["StoppingCondition"].update(MaxWaitTimeInSeconds=3600),
        "It must be equal to or greater than MaxRuntimeInSeconds.",
    ),
}


def test_the_synthesized_train_request_passes(train_request):
    validate_request("CreateTrainingJob", train_request)


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_each_planted_defect_passed_paramvalidator_and_is_refused_naming_its_rule(train_request, name):
    edit, expected = PLANTED[name]
    planted = _planted(train_request, edit)
    shape = botocore.session.get_session().get_service_model("sagemaker").operation_model("CreateTrainingJob")
    assert not ParamValidator().validate(planted, shape.input_shape).has_errors(), "what the rehearsal checked before"
    with pytest.raises(StepError) as refused:
        validate_request("CreateTrainingJob", planted)
    assert refused.value.exception_type == "SageMaker.VALIDATION"
    assert expected in str(refused.value) and "Fix:" in str(refused.value)
