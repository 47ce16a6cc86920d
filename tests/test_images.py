"""The pinned DLC table stays equal to the SageMaker SDK's own image URIs."""

from __future__ import annotations

import json

import pytest

from stacks import images


def test_table_covers_exactly_the_regions_the_sdk_lists():
    assert images.supported_regions() == images.sdk_regions()


@pytest.mark.parametrize("region", json.loads(images.TABLE.read_text()))
def test_table_matches_sdk(region):
    pinned = images.images_for(region)
    assert {"training": pinned.training, "inference": pinned.inference} == images.retrieve_from_sdk(region)


def test_pins_the_dlc_versions_the_code_is_tested_on():
    pinned = images.images_for("us-east-1")
    assert "huggingface-pytorch-training:2.8.0-transformers4.56.2-gpu" in pinned.training
    assert "huggingface-pytorch-inference:2.6.0-transformers4.51.3-cpu" in pinned.inference


def test_repository_arns_follow_the_partition():
    assert images.images_for("us-east-1").repository_arns[0].startswith("arn:aws:ecr:us-east-1:")
    cn = [r for r in images.supported_regions() if r.startswith("cn-")]
    if cn:
        assert images.images_for(cn[0]).repository_arns[0].startswith(f"arn:aws-cn:ecr:{cn[0]}:")


def test_unknown_region_is_an_error():
    with pytest.raises(KeyError, match="mars-north-1"):
        images.images_for("mars-north-1")
