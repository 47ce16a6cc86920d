"""Hyperparameters as SageMaker passes them: ``--name value`` strings on the command line.

Paths default from the ``SM_*`` variables the training container sets, so the
same script runs on SageMaker, under ``torchrun`` and on a laptop. Unknown
hyperparameters are an error (a typo must not silently train with a default).
"""

from __future__ import annotations

import argparse
import os

import contract
import long_text

MODES = ("finetune", "distill")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
EARLY_STOPPING_METRICS = ("accuracy", "f1_macro", "loss")


def str2bool(value: str) -> bool:
    """SageMaker sends booleans as strings: "False" must be False."""
    lowered = str(value).strip().lower()
    if lowered in ("true", "1", "yes", "y", "on"):
        return True
    if lowered in ("false", "0", "no", "n", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def _bounded(kind, low=None, high=None, *, low_open=False):
    def parse(value: str):
        try:
            number = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind.__name__}, got {value!r}") from None
        too_low = low is not None and (number <= low if low_open else number < low)
        too_high = high is not None and number > high
        if too_low or too_high:
            left = "(" if low_open else "["
            raise argparse.ArgumentTypeError(f"must be within {left}{low}, {high}], got {value!r}")
        return number

    return parse


AUTO_MAX_LENGTH = 0


def _max_length(value: str) -> int:
    number = _bounded(int, 0, 4096)(value)
    if 0 < number < 8:
        raise argparse.ArgumentTypeError(f"expected 0 (from the data) or 8..4096 tokens, got {value!r}")
    return number


def _layer_list(value: str) -> list[int]:
    if not value.strip():
        return []
    try:
        layers = [int(part) for part in value.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer indices such as 0,2,4, got {value!r}"
        ) from None
    if any(layer < 0 for layer in layers) or layers != sorted(set(layers)):
        raise argparse.ArgumentTypeError(f"layer indices must be increasing and >= 0, got {value!r}")
    return layers


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def build_parser() -> argparse.ArgumentParser:
    # allow_abbrev=False: a misspelt hyperparameter such as --learning_rat must fail, not match a prefix.
    p = argparse.ArgumentParser(
        description="Fine-tune or distill a sequence classifier (SageMaker script mode).", allow_abbrev=False
    )
    add = p.add_argument

    # What to train
    add(
        "--mode",
        choices=MODES,
        default="finetune",
        help="finetune a pretrained encoder, or distill a teacher into a student",
    )
    add(
        "--model_name_or_path",
        default=_env(contract.channel_env(contract.MODEL), "distilbert-base-uncased"),
        help="model to fine-tune, or the student in distill mode: a Hub id or a directory "
        "(default: the 'model' channel)",
    )
    add(
        "--teacher_name_or_path",
        default=_env(contract.channel_env(contract.TEACHER), "textattack/bert-base-uncased-SST-2"),
        help="fine-tuned teacher for distill mode: a Hub id or a directory (default: the 'teacher' channel)",
    )
    add(
        "--student_layers",
        type=_layer_list,
        default=[],
        help="distill mode: build the student from these teacher layers, e.g. 0,2,4 (the DistilBERT recipe) "
        "instead of loading --model_name_or_path",
    )
    add(
        "--alpha",
        type=_bounded(float, 0.0, 1.0),
        default=contract.DEFAULT_ALPHA,
        help="distill mode: weight of cross-entropy on labels; 1-alpha weighs the KL term",
    )
    add(
        "--temperature",
        type=_bounded(float, 0.0, 100.0, low_open=True),
        default=contract.DEFAULT_TEMPERATURE,
        help="distill mode: softmax temperature T; the KL term is scaled by T^2",
    )
    add(
        "--cache_teacher_logits",
        type=str2bool,
        default=True,
        help="distill mode: compute teacher logits once and reuse them every epoch",
    )

    # Data
    add(
        "--train_dir",
        default=_env(contract.channel_env(contract.TRAIN)),
        help="directory of CSV/JSONL files with text and label (the 'train' channel)",
    )
    add(
        "--validation_dir",
        default=_env(contract.channel_env(contract.VALIDATION)),
        help="optional held-out directory (the 'validation' channel)",
    )
    add("--text_column", default="text", help="name of the text field")
    add("--label_column", default="label", help="name of the label field")
    add(
        "--labels",
        default="",
        help="comma-separated label names in id order, e.g. negative,positive; "
        "default: the teacher's labels, else sorted names, else the integer ids",
    )
    add(
        "--max_length",
        type=_max_length,
        default=AUTO_MAX_LENGTH,
        help="tokens of a text the model trains on; 0: the longest training text's length, capped at the model's "
        "window, so training cuts no text the window holds (the data decides, see `textclf data validate`)",
    )
    add(
        "--long_text",
        choices=long_text.STRATEGIES,
        default=long_text.DEFAULT,
        help="how a text longer than the window is read, recorded in the model for the endpoint and evaluation: "
        "head (its start), head_tail (a quarter of the window from its start, the rest from its end), chunks "
        "(windows over all of it, the mean of their probabilities; training reads the first)",
    )
    add(
        "--calibrate",
        type=str2bool,
        default=True,
        help="fit a temperature on the validation channel at the end of training, stored with the model and "
        "applied by the endpoint (needs a validation channel; without one the model is exported uncalibrated)",
    )
    add("--group_by_length", type=str2bool, default=True, help="batch texts of similar length to cut padding")

    # Optimisation
    add(
        "--epochs",
        type=_bounded(float, 0.0, 1000.0, low_open=True),
        default=contract.DEFAULT_EPOCHS,
        help="passes over the training data (may be fractional)",
    )
    add("--max_steps", type=_bounded(int, 0), default=0, help="stop after this many optimizer steps (0: use --epochs)")
    add("--per_device_batch_size", type=_bounded(int, 1, 4096), default=32, help="examples per device per step")
    add("--eval_batch_size", type=_bounded(int, 1, 4096), default=128, help="examples per evaluation batch")
    add(
        "--learning_rate",
        type=_bounded(float, 0.0, 1.0, low_open=True),
        default=contract.DEFAULT_LEARNING_RATE,
        help="peak learning rate",
    )
    add(
        "--weight_decay",
        type=_bounded(float, 0.0, 1.0),
        default=0.01,
        help="AdamW weight decay (not applied to biases and norms)",
    )
    add("--warmup_ratio", type=_bounded(float, 0.0, 1.0), default=0.06, help="fraction of steps of linear warm-up")
    add("--max_grad_norm", type=_bounded(float, 0.0), default=1.0, help="clip gradients to this norm (0: off)")
    add(
        "--dropout",
        type=_bounded(float, -1.0, 0.9),
        default=-1.0,
        help="override every dropout probability (-1: keep the model's)",
    )
    add(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="auto: bf16 on GPUs that support it, else fp16 on GPU, fp32 on CPU",
    )
    add("--seed", type=int, default=42, help="seed for initialisation, data order and dropout")

    # Logging, checkpoints, outputs
    add("--log_steps", type=_bounded(int, 1), default=50, help="log training metrics every N steps")
    add(
        "--eval_steps",
        type=_bounded(int, 0),
        default=contract.DEFAULT_EVAL_STEPS,
        help="evaluate every N steps (0: at the end of each epoch)",
    )
    add(
        "--early_stopping_patience",
        type=_bounded(int, 0),
        default=0,
        help="stop when the validation --best_metric has not improved for N evaluations and export the best "
        "weights, not the last (0: off; needs a validation channel)",
    )
    add(
        "--best_metric",
        choices=EARLY_STOPPING_METRICS,
        default="accuracy",
        help="validation metric early stopping watches (loss: lower is better)",
    )
    add("--checkpoint_steps", type=_bounded(int, 1), default=200, help="write a resumable checkpoint every N steps")
    add("--keep_checkpoints", type=_bounded(int, 1, 100), default=2, help="how many checkpoints to keep")
    add(
        "--checkpoint_dir",
        default=contract.CHECKPOINT_DIR,
        help="local directory SageMaker syncs to the checkpoint S3 URI",
    )
    add(
        "--model_dir",
        default=_env("SM_MODEL_DIR", "model"),
        help="where the final model is exported (becomes model.tar.gz)",
    )
    add("--output_data_dir", default=_env("SM_OUTPUT_DATA_DIR", "output"), help="where metrics files are written")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.train_dir:
        parser.error("argument --train_dir: required (or attach a 'train' channel so SM_CHANNEL_TRAIN is set)")
    if args.mode == "finetune" and args.student_layers:
        parser.error("argument --student_layers: only valid with --mode distill")
    if args.early_stopping_patience and not args.validation_dir:
        parser.error(
            "argument --early_stopping_patience: needs a validation channel (--validation_dir or "
            "SM_CHANNEL_VALIDATION) to watch. Fix: attach one, or set it to 0."
        )
    return args
