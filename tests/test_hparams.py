"""Hyperparameters arrive as SageMaker CLI strings; bad ones fail at job start naming the flag."""

from __future__ import annotations

import hparams
import pytest


def _parse(*extra: str, train_dir: str = "/data/train"):
    return hparams.parse_args(["--train_dir", train_dir, *extra])


@pytest.mark.parametrize(
    "text, expected", [("False", False), ("false", False), ("0", False), ("True", True), ("true", True), ("1", True)]
)
def test_sagemaker_boolean_strings(text, expected):
    assert _parse("--cache_teacher_logits", text).cache_teacher_logits is expected


def test_unknown_hyperparameter_is_an_error(capsys):
    with pytest.raises(SystemExit):
        _parse("--learning_rat", "1e-4")
    assert "unrecognized arguments: --learning_rat" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--alpha", "1.5", "argument --alpha: must be within [0.0, 1.0]"),
        ("--temperature", "0", "argument --temperature: must be within (0.0, 100.0]"),
        ("--learning_rate", "abc", "argument --learning_rate: expected float"),
        ("--per_device_batch_size", "0", "argument --per_device_batch_size"),
        ("--mode", "prune", "argument --mode: invalid choice"),
        ("--student_layers", "2,1", "argument --student_layers: layer indices must be increasing"),
    ],
)
def test_bad_values_name_the_flag(capsys, flag, value, message):
    with pytest.raises(SystemExit):
        _parse(flag, value)
    assert message in capsys.readouterr().err


def test_paths_default_from_sagemaker_environment(monkeypatch):
    monkeypatch.setenv("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train")
    monkeypatch.setenv("SM_CHANNEL_MODEL", "/opt/ml/input/data/model")
    monkeypatch.setenv("SM_MODEL_DIR", "/opt/ml/model")
    args = hparams.parse_args([])
    assert args.train_dir == "/opt/ml/input/data/train"
    assert args.model_name_or_path == "/opt/ml/input/data/model"
    assert args.model_dir == "/opt/ml/model"
    assert args.checkpoint_dir == "/opt/ml/checkpoints"


def test_production_defaults_without_channels(monkeypatch):
    for name in ("SM_CHANNEL_MODEL", "SM_CHANNEL_TEACHER"):
        monkeypatch.delenv(name, raising=False)
    args = _parse()
    assert args.model_name_or_path == "distilbert-base-uncased"
    assert "bert-base-uncased" in args.teacher_name_or_path


def test_missing_training_channel_says_how_to_fix(capsys, monkeypatch):
    monkeypatch.delenv("SM_CHANNEL_TRAIN", raising=False)
    with pytest.raises(SystemExit):
        hparams.parse_args([])
    assert "--train_dir: required (or attach a 'train' channel" in capsys.readouterr().err


def test_student_layers_only_in_distill_mode(capsys):
    with pytest.raises(SystemExit):
        _parse("--student_layers", "0,2")
    assert "only valid with --mode distill" in capsys.readouterr().err


def test_every_flag_has_help():
    for action in hparams.build_parser()._actions:
        assert action.help, action.option_strings


@pytest.mark.parametrize("working_directory", ["", "training"])
def test_a_local_run_writes_only_where_git_ignores(monkeypatch, working_directory):
    """Outside SageMaker the output paths fall back under the working directory; `git add -A` must not take them."""
    import subprocess

    from stacks.project import ROOT

    for name in ("SM_MODEL_DIR", "SM_OUTPUT_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    args = _parse()
    written = [
        f"{working_directory}/{path}/model.safetensors".lstrip("/") for path in (args.model_dir, args.output_data_dir)
    ]
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", *written], cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    assert ignored == written
