"""Instance facts: the types each SageMaker API takes (botocore's model) and local storage (the SageMaker SDK's)."""

from __future__ import annotations

import pytest
from sagemaker.core.common_utils import instance_supports_kms

from stacks import instances


@pytest.mark.parametrize("api_type", [instances.TRAINING, instances.PROCESSING, instances.TRANSFORM, instances.HOSTING])
def test_local_storage_is_the_sdks_verdict_for_every_type_botocore_knows(api_type):
    known = instances.accepted(api_type)
    assert len(known) > 100 or api_type == instances.TRANSFORM, "botocore's enum is read, not a list of ours"
    disagree = [t for t in known if instances.has_instance_store(t) == instance_supports_kms(t)]
    assert disagree == []


def test_the_stages_default_types_are_what_the_issue_found():
    assert instances.has_instance_store("ml.g5.xlarge") and instances.has_instance_store("ml.g5.2xlarge")
    assert not instances.has_instance_store("ml.m5.xlarge") and not instances.has_instance_store("ml.c6i.xlarge")


def test_a_job_built_for_a_gpu_type_runs_only_on_gpu_types_of_its_storage_kind():
    local = instances.training_types("ml.g5.xlarge")
    assert "ml.g6.12xlarge" in local and "ml.g4dn.xlarge" in local
    assert not {"ml.r5d.xlarge", "ml.m5.xlarge", "ml.p3.2xlarge"} & set(local)


def test_same_storage_splits_the_training_types_in_two():
    local, ebs = (instances.same_storage(instances.TRAINING, t) for t in ("ml.g5.xlarge", "ml.m5.xlarge"))
    assert set(local) | set(ebs) == set(instances.accepted(instances.TRAINING)) and not set(local) & set(ebs)
    assert "ml.g4dn.xlarge" in local and "ml.p3.2xlarge" in ebs


def test_family_patterns_cover_exactly_the_families():
    assert instances.family_patterns(["ml.g5.xlarge", "ml.g5.2xlarge", "ml.p4d.24xlarge"]) == ["ml.g5.*", "ml.p4d.*"]


@pytest.mark.parametrize(
    ("configured", "requested", "problem"),
    [
        ("ml.g5.xlarge", "ml.g6.12xlarge", None),
        ("ml.g5.xlarge", "ml.p3.2xlarge", "ml.p3.2xlarge has an EBS volume, which takes the stage's KMS key, but"),
        ("ml.g5.xlarge", "ml.m5.xlarge", "ml.m5.xlarge has no GPU"),
        ("ml.g5.xlarge", "ml.r5d.xlarge", "ml.r5d.xlarge has no GPU"),  # local storage, as g5 has, but a CPU
        ("ml.m5.xlarge", "ml.g5.xlarge", "ml.g5.xlarge has local NVMe storage"),
        ("ml.g5.xlarge", "g5.xlarge", "g5.xlarge is not a SageMaker training instance type"),
    ],
)
def test_storage_mismatch_names_both_kinds(configured, requested, problem):
    found = instances.storage_mismatch(configured, requested)
    assert found == problem if problem is None else found.startswith(problem)
