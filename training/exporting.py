"""The model directory SageMaker packs into model.tar.gz, ready to serve as is."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import contract
import long_text
from transformers import PreTrainedModel

# Next to training/ in the source bundle; copied so the registered artifact carries its handler, the contract
# the handler reads its environment names from, and the long-text rule it shares with training.
INFERENCE_CODE = Path(__file__).resolve().parent.parent / "inference"
SHARED_WITH_ENDPOINT = (Path(contract.__file__), Path(long_text.__file__))


def export_model(
    model: PreTrainedModel,
    tokenizer,
    names: Sequence[str],
    model_dir: str | Path,
    config: dict,
    *,
    strategy: str = long_text.DEFAULT,
    temperature: float | None = None,
) -> Path:
    """The model directory, with how it reads long texts and its fitted temperature (when there is one) in
    config.json, where every loader finds them."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    model.config.id2label = dict(enumerate(names))
    model.config.label2id = {name: i for i, name in enumerate(names)}
    setattr(model.config, contract.LONG_TEXT_CONFIG, strategy)
    if temperature is not None:
        setattr(model.config, contract.TEMPERATURE_CONFIG, round(temperature, 4))
    model.save_pretrained(model_dir, safe_serialization=True)
    tokenizer.save_pretrained(model_dir)
    (model_dir / contract.LABELS_FILE).write_text(json.dumps(list(names), indent=2) + "\n")
    (model_dir / contract.TRAINING_CONFIG_FILE).write_text(
        json.dumps(config, indent=2, sort_keys=True, default=str) + "\n"
    )
    _copy_endpoint_code(model_dir / contract.ENDPOINT_CODE_DIR)
    return model_dir


def _copy_endpoint_code(target: Path) -> None:
    if not INFERENCE_CODE.is_dir():
        return
    target.mkdir(exist_ok=True)
    for source in [*INFERENCE_CODE.iterdir(), *SHARED_WITH_ENDPOINT]:
        if source.is_file() and (source.suffix == ".py" or source.name == "requirements.txt"):
            shutil.copy2(source, target / source.name)


def write_metrics(report: dict, output_dir: str | Path) -> None:
    if report:
        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / contract.METRICS_FILE).write_text(json.dumps(report, indent=2) + "\n")
