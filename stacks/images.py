"""Hugging Face Deep Learning Container images, pinned per region.

The table in ``dlc_images.json`` is generated from ``sagemaker.core.image_uris``
(the SageMaker SDK's own offline source of truth) by ``python -m stacks.images``,
and ``tests/test_images.py`` keeps it equal to that source, so synth needs
neither the SDK nor network access.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

TABLE = Path(__file__).with_name("dlc_images.json")


def _dlc(scope: str, transformers: str, pytorch: str, instance_type: str) -> dict[str, str]:
    """The keyword arguments of sagemaker.core.image_uris.retrieve for one Hugging Face DLC."""
    return dict(
        image_scope=scope,
        version=transformers,
        base_framework_version=f"pytorch{pytorch}",
        py_version="py312",
        instance_type=instance_type,
    )


# Training: the newest HF training DLC that runs on g5-class GPUs (the 5.x image needs CUDA 13).
TRAINING_IMAGE = _dlc("training", transformers="4.56.2", pytorch="2.8.0", instance_type="ml.g5.xlarge")
# Serving: the CPU inference DLC, since serverless endpoints run on CPU.
INFERENCE_IMAGE = _dlc("inference", transformers="4.51.3", pytorch="2.6.0", instance_type="ml.m5.xlarge")

_URI_RE = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?/(?P<repo>[^:]+):")


@dataclass(frozen=True)
class ContainerImages:
    region: str
    training: str
    inference: str

    @property
    def repository_arns(self) -> list[str]:
        return [_repository_arn(uri) for uri in (self.training, self.inference)]


def _repository_arn(uri: str) -> str:
    match = _URI_RE.match(uri)
    if not match:
        raise ValueError(f"not an ECR image URI: {uri}")
    region = match["region"]
    partition = "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"
    return f"arn:{partition}:ecr:{region}:{match['account']}:repository/{match['repo']}"


@lru_cache(maxsize=1)
def _table() -> dict[str, dict[str, str]]:
    return json.loads(TABLE.read_text())


def supported_regions() -> list[str]:
    return sorted(_table())


def images_for(region: str) -> ContainerImages:
    try:
        entry = _table()[region]
    except KeyError:
        raise KeyError(f"no Hugging Face DLC pinned for region {region!r}") from None
    return ContainerImages(region=region, training=entry["training"], inference=entry["inference"])


def retrieve_from_sdk(region: str) -> dict[str, str]:
    """Ask the SageMaker SDK for the pinned images (offline; imported lazily)."""
    from sagemaker.core import image_uris

    return {
        name: image_uris.retrieve("huggingface", region=region, **spec)
        for name, spec in (("training", TRAINING_IMAGE), ("inference", INFERENCE_IMAGE))
    }


def sdk_regions() -> list[str]:
    """Regions where the SDK lists both pinned images."""
    from sagemaker.core import image_uris

    config = image_uris.config_for_framework("huggingface")
    regions = None
    for spec in (TRAINING_IMAGE, INFERENCE_IMAGE):
        framework = config[spec["image_scope"]]["versions"][spec["version"]][spec["base_framework_version"]]
        found = set(framework["registries"])
        regions = found if regions is None else regions & found
    return sorted(regions)


if __name__ == "__main__":
    table = {region: retrieve_from_sdk(region) for region in sdk_regions()}
    TABLE.write_text(json.dumps(table, indent=2, sort_keys=True) + "\n")
    print(f"wrote {len(table)} regions to {TABLE}")
