"""train.py end to end on a tiny BERT: export, spot-interruption resume, distillation, SageMaker runner (DDP across
instances: tests/test_training_launcher.py)."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import contract
import long_text
import modeling
import pytest
import text_data
import token_lengths
import torch
import train
from classifier import TextClassifier
from conftest import ROOT, TRAINING_DIR
from contract import METRIC_DEFINITIONS
from safetensors.torch import load_file

# Trains, runs jobs or serves a model: the delivery pipeline's Rehearse action runs this module, Synth does not.
pytestmark = pytest.mark.workload

ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def _argv(model, data, out: Path, *extra: str) -> list[str]:
    return [
        "--train_dir",
        str(data["train"]),
        "--validation_dir",
        str(data["validation"]),
        "--model_name_or_path",
        str(model),
        "--labels",
        "negative,positive",
        "--per_device_batch_size",
        "16",
        "--epochs",
        "2",
        "--max_length",
        "48",
        "--log_steps",
        "4",
        "--checkpoint_steps",
        "8",
        "--learning_rate",
        "1e-3",
        "--checkpoint_dir",
        str(out / "checkpoints"),
        "--model_dir",
        str(out / "model"),
        "--output_data_dir",
        str(out / "output"),
        *extra,
    ]


def _run(argv: list[str], *, launcher: list[str] | None = None) -> subprocess.CompletedProcess:
    command = (launcher or [sys.executable]) + [str(TRAINING_DIR / "train.py"), *argv]
    return subprocess.run(command, cwd=TRAINING_DIR, env=ENV, capture_output=True, text=True, timeout=600)


def _sigterm_at(prefix: str, argv: list[str]) -> None:
    """Run train.py, SIGTERM it (a spot reclaim) when it logs a line starting with ``prefix``; it must exit 143."""
    process = subprocess.Popen(
        [sys.executable, str(TRAINING_DIR / "train.py"), *argv],
        cwd=TRAINING_DIR,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    for line in process.stdout:
        if line.startswith(prefix):
            process.send_signal(signal.SIGTERM)
            break
    process.stdout.read()
    assert process.wait(timeout=300) == train.EXIT_INTERRUPTED


def _weights(out: Path) -> dict[str, torch.Tensor]:
    return load_file(out / "model" / "model.safetensors")


def test_finetune_exports_a_servable_model_and_parsable_metrics(tiny_model_dir, small_data, tmp_path):
    """With the length left to the data (--max_length 0, the default): the longest training text's. The
    model records how it reads long texts and the temperature fitted on validation, which the endpoint applies."""
    result = _run(_argv(tiny_model_dir, small_data, tmp_path, "--early_stopping_patience", "5", "--max_length", "0"))
    assert result.returncode == 0, result.stdout + result.stderr
    model_dir = tmp_path / "model"
    for name in ("model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "labels.json"):
        assert (model_dir / name).exists(), name
    config = json.loads((model_dir / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    tokenizer = modeling.load_tokenizer(str(tiny_model_dir))
    texts = [row["text"] for row in csv.DictReader((small_data["train"] / "train.csv").open())]
    chosen = token_lengths.training_length(token_lengths.counts(tokenizer, texts), 128)
    assert f"length: max_length={chosen} from the training texts (tokens p50=" in result.stdout
    assert json.loads((model_dir / "training_config.json").read_text())["max_length"] == chosen
    assert config[contract.LONG_TEXT_CONFIG] == long_text.DEFAULT
    calibrated = (
        r"^calibration: temperature=([\d.]+) ece_before=[\d.]+ ece_after=[\d.]+ loss_before=([\d.]+) "
        r"loss_after=([\d.]+)"
    )
    fitted = re.search(calibrated, result.stdout, re.M)
    assert fitted and config[contract.TEMPERATURE_CONFIG] == pytest.approx(float(fitted.group(1)), abs=1e-3)
    assert float(fitted.group(3)) <= float(fitted.group(2)), "the temperature lowers validation's log loss"
    assert TextClassifier.load(model_dir, quantize="").temperature == config[contract.TEMPERATURE_CONFIG]
    metrics = json.loads((tmp_path / "output" / "metrics.json").read_text())
    assert set(metrics) >= {"accuracy", "f1_macro", "per_class", "confusion_matrix", "loss"}
    for definition in METRIC_DEFINITIONS:
        values = [m.group(1) for line in result.stdout.splitlines() if (m := re.search(definition["Regex"], line))]
        assert values, f"{definition['Name']} never logged"
        float(values[-1])
    best_step = re.search(r"^stop: .*\bbest_step=(\d+)", result.stdout, re.M).group(1)
    best_eval = [line for line in result.stdout.splitlines() if line.startswith(f"eval: step={best_step} ")][0]
    assert f"accuracy={metrics['accuracy']:.4f}" in best_eval, "metrics.json describes the exported weights"
    assert (model_dir / "code" / "inference.py").exists()


def test_spot_interruption_between_evaluations_resumes_bit_for_bit_with_the_same_best_state(
    tiny_model_dir, small_data, tmp_path
):
    """SIGTERM mid-epoch and between two evaluations, restart, finish: the last weights are bit-identical to
    a run that was never interrupted (dropout on, so RNG state must resume too), and so are the best state
    early stopping kept and the weights it exported (CPU)."""
    extra = ("--epochs", "3", "--eval_steps", "4", "--early_stopping_patience", "100")
    reference = _run(_argv(tiny_model_dir, small_data, tmp_path / "reference", *extra))
    assert reference.returncode == 0, reference.stderr

    argv = _argv(tiny_model_dir, small_data, tmp_path / "spot", *extra)
    _sigterm_at("train: step=20 ", argv)  # mid-epoch 2, past the step-16 checkpoint; evaluations at 4..20 seen
    assert not (tmp_path / "spot" / "model" / "model.safetensors").exists()
    state = torch.load(max((tmp_path / "spot" / "checkpoints").glob("*.pt")), weights_only=False)
    assert state["early_stopping"]["best_weights"] is not None and state["early_stopping"]["best_step"] <= 20

    resumed = _run(argv)
    assert resumed.returncode == 0, resumed.stderr
    match = re.search(r"resume: step=(\d+) epoch=(\d+) batch=(\d+)", resumed.stdout)
    assert match and int(match.group(1)) == 20 and int(match.group(3)) > 0, resumed.stdout
    last = "checkpoints/checkpoint-000000048.pt"
    expected_last = torch.load(tmp_path / "reference" / last, weights_only=False)["model"]
    actual_last = torch.load(tmp_path / "spot" / last, weights_only=False)["model"]
    for name in expected_last:
        assert torch.equal(expected_last[name], actual_last[name]), name
    stop = re.compile(r"^stop: .*$", re.M)
    assert stop.search(resumed.stdout).group(0) == stop.search(reference.stdout).group(0)
    expected, actual = _weights(tmp_path / "reference"), _weights(tmp_path / "spot")
    assert expected.keys() == actual.keys()
    for name in expected:
        assert torch.equal(expected[name], actual[name]), name


def test_resume_refuses_a_checkpoint_from_other_settings(tiny_model_dir, small_data, tmp_path):
    assert _run(_argv(tiny_model_dir, small_data, tmp_path, "--epochs", "1")).returncode == 0
    with pytest.raises(ValueError, match=r"other settings \(per_device_batch_size: 16 -> 8.*Fix: use a new checkpoint"):
        train.main(_argv(tiny_model_dir, small_data, tmp_path, "--epochs", "1", "--per_device_batch_size", "8"))


def test_distill_student_from_teacher_layers_with_and_without_cached_logits(tiny_model_dir, small_data, tmp_path):
    results = {}
    for cached in ("True", "False"):
        out = tmp_path / cached
        argv = _argv(
            tiny_model_dir,
            small_data,
            out,
            "--mode",
            "distill",
            "--teacher_name_or_path",
            str(tiny_model_dir),
            "--student_layers",
            "0,2",
            "--alpha",
            "0.5",
            "--temperature",
            "2",
            "--dropout",
            "0",
            "--epochs",
            "1",
            "--cache_teacher_logits",
            cached,
        )
        assert train.main(argv) == 0
        config = json.loads((out / "model" / "config.json").read_text())
        assert config["num_hidden_layers"] == 2
        results[cached] = _weights(out)
    for name in results["True"]:
        assert torch.allclose(results["True"][name], results["False"][name], rtol=1e-4, atol=1e-5), name


def test_distill_rejects_a_student_with_another_vocabulary(tiny_model_dir, small_data, tmp_path):
    from conftest import minilm_path
    from transformers import BertTokenizerFast

    vocab = (minilm_path() / "vocab.txt").read_text(encoding="utf-8").splitlines()
    vocab[2000], vocab[2001] = vocab[2001], vocab[2000]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    other = tmp_path / "other-student"
    shutil.copytree(tiny_model_dir, other)
    for stale in other.glob("*token*"):
        stale.unlink()
    BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt"), do_lower_case=True).save_pretrained(other)
    argv = _argv(other, small_data, tmp_path, "--mode", "distill", "--teacher_name_or_path", str(tiny_model_dir))
    with pytest.raises(Exception, match="teacher and student tokenizers differ"):
        train.main(argv)


def _pack(model_dir: Path, channel: Path, *extra: tuple[str, bytes]) -> Path:
    """A channel folder as SageMaker fills it from a job's output: model.tar.gz, nothing else."""
    import io
    import tarfile

    channel.mkdir(parents=True)
    with tarfile.open(channel / "model.tar.gz", "w:gz") as tar:
        for path in sorted(model_dir.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(model_dir)), recursive=False)
        for name, data in extra:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return channel


def _distill_from_channel(model, data, tmp_path, channel, *, layers: str) -> list[str]:
    """One epoch distilling a student of these teacher layers from ``channel``, into tmp_path/student."""
    teacher = ["--teacher_name_or_path", str(channel), "--student_layers", layers]
    return _argv(model, data, tmp_path / "student", "--mode", "distill", *teacher, "--epochs", "1")


def test_distill_from_a_teacher_channel_that_holds_only_model_tar_gz(tiny_model_dir, small_data, tmp_path):
    assert train.main(_argv(tiny_model_dir, small_data, tmp_path / "teacher", "--epochs", "1")) == 0
    channel = _pack(tmp_path / "teacher" / "model", tmp_path / "channels" / "teacher")
    assert [p.name for p in channel.iterdir()] == ["model.tar.gz"]
    assert train.main(_distill_from_channel(tiny_model_dir, small_data, tmp_path, channel, layers="0,2")) == 0
    config = json.loads((tmp_path / "student" / "model" / "config.json").read_text())
    assert config["num_hidden_layers"] == 2 and config["id2label"] == {"0": "negative", "1": "positive"}
    saved = json.loads((tmp_path / "student" / "model" / "training_config.json").read_text())
    assert saved["teacher_name_or_path"] == str(channel), "the config records the channel, not a scratch folder"


def test_an_archive_with_parent_entries_is_refused_before_anything_is_written(tiny_model_dir, small_data, tmp_path):
    import archives

    channel = _pack(tiny_model_dir, tmp_path / "channels" / "teacher", ("../escaped.txt", b"owned"))
    argv = _distill_from_channel(tiny_model_dir, small_data, tmp_path, channel, layers="0")
    with pytest.raises(
        archives.ArchiveError,
        match=r"--teacher_name_or_path: .*model.tar.gz has the entry "
        r"'../escaped.txt', which points outside .* Fix: pack with",
    ):
        train.main(argv)
    assert not list(tmp_path.rglob("escaped.txt"))
    assert not (tmp_path / "student" / "model").exists()


def test_an_archive_beyond_the_size_bound_is_refused(tiny_model_dir, tmp_path):
    import archives

    channel = _pack(tiny_model_dir, tmp_path / "channel")
    with pytest.raises(archives.ArchiveError, match=r"--model_name_or_path: .* unpacks to more than .* refused"):
        archives.resolve_model(str(channel), tmp_path / "scratch", field="--model_name_or_path", max_bytes=1024)
    assert not (tmp_path / "scratch").exists() or not any((tmp_path / "scratch").rglob("*.safetensors"))


def _eval_lines(stdout: str) -> list[tuple[int, float]]:
    return [
        (int(m.group(1)), float(m.group(2)))
        for m in re.finditer(r"^eval: step=(\d+) .*\baccuracy=([\d.]+)", stdout, re.M)
    ]


def test_early_stopping_ends_when_validation_stalls_and_exports_the_best_weights(tiny_model_dir, small_data, tmp_path):
    out = tmp_path / "run"
    argv = _argv(
        tiny_model_dir,
        small_data,
        out,
        "--epochs",
        "20",
        "--eval_steps",
        "2",
        "--checkpoint_steps",
        "2",
        "--keep_checkpoints",
        "100",
        "--early_stopping_patience",
        "2",
        "--dropout",
        "0",
    )
    result = _run(argv)
    assert result.returncode == 0, result.stdout + result.stderr
    evals = _eval_lines(result.stdout)
    # What the rule says, recomputed from the logged evaluations: the first best, and the first
    # evaluation that is the second in a row without a strict gain.
    best_step, best, misses, stop_step = None, -1.0, 0, None
    for step, accuracy in evals:
        if accuracy > best:
            best_step, best, misses = step, accuracy, 0
        else:
            misses += 1
            if misses == 2:
                stop_step = step
                break
    assert stop_step is not None and stop_step < 20 * 16, "validation must stall within 20 epochs for this test"
    assert evals[-1][0] == stop_step, "no evaluation after the stop"
    stop = re.search(
        r"^stop: reason=no_improvement step=(\d+) best_step=(\d+) best_score=([\d.]+) metric=accuracy "
        r"patience=2$",
        result.stdout,
        re.M,
    )
    assert stop and (int(stop.group(1)), int(stop.group(2))) == (stop_step, best_step), result.stdout
    exported = _weights(out)
    at_best = torch.load(out / "checkpoints" / f"checkpoint-{best_step:09d}.pt", weights_only=False)["model"]
    at_stop = torch.load(out / "checkpoints" / f"checkpoint-{stop_step:09d}.pt", weights_only=False)["model"]
    assert any(not torch.equal(at_best[k], at_stop[k]) for k in exported), "best and last must differ"
    for name in exported:
        assert torch.equal(exported[name], at_best[name].contiguous()), name


def _sagemaker_tree(base: Path, model: Path, data: dict, hyperparameters: dict) -> Path:
    """A /opt/ml layout as SageMaker builds it, with the source bundle (training/ + inference/)."""
    source = base / "bundle"
    shutil.copytree(TRAINING_DIR, source / "training", ignore=shutil.ignore_patterns("__pycache__"))
    if (ROOT / "inference").is_dir():
        shutil.copytree(ROOT / "inference", source / "inference", ignore=shutil.ignore_patterns("__pycache__"))
    config = base / "input" / "config"
    config.mkdir(parents=True)
    channels = {"train": data["train"], "validation": data["validation"], "model": model}
    for name, path in channels.items():
        shutil.copytree(path, base / "input" / "data" / name)
    hyperparameters = {
        **hyperparameters,
        "sagemaker_program": "training/train.py",
        "sagemaker_submit_directory": str(source),
        "sagemaker_region": "us-east-1",
    }
    (config / "hyperparameters.json").write_text(json.dumps({k: json.dumps(v) for k, v in hyperparameters.items()}))
    (config / "inputdataconfig.json").write_text(json.dumps({n: {"TrainingInputMode": "File"} for n in channels}))
    # The runner waits until every host name resolves; "localhost" does here, as "algo-1" does on SageMaker.
    (config / "resourceconfig.json").write_text(
        json.dumps({"current_host": "localhost", "hosts": ["localhost"], "network_interface_name": "lo"})
    )
    return base


def test_runs_under_the_real_sagemaker_training_entry_runner(tiny_model_dir, small_data, tmp_path):
    base = _sagemaker_tree(
        tmp_path / "opt-ml",
        tiny_model_dir,
        small_data,
        {
            "labels": "negative,positive",
            "epochs": 1,
            "per_device_batch_size": 16,
            "group_by_length": "False",
            "checkpoint_dir": str(tmp_path / "checkpoints"),
            "log_steps": 4,
        },
    )
    env = {**ENV, "SAGEMAKER_BASE_DIR": str(base), "SM_NUM_GPUS": "0"}
    result = subprocess.run(
        [sys.executable, "-c", "from sagemaker_training.cli.train import main; main()"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "data: train=256 validation=64" in output
    assert (base / "model" / "model.safetensors").exists()
    assert (base / "output" / "data" / "metrics.json").exists()
    saved = json.loads((base / "model" / "training_config.json").read_text())
    assert saved["group_by_length"] is False, "the string 'False' from SageMaker must parse as False"
    assert saved["model_name_or_path"] == str(base / "input" / "data" / "model"), "base model from the model channel"


def test_data_smaller_than_one_global_batch_is_refused_naming_the_fix(tiny_model_dir, small_data, tmp_path):
    argv = _argv(tiny_model_dir, small_data, tmp_path, "--per_device_batch_size", "512")
    with pytest.raises(
        text_data.DataError, match=r"256 training examples is less than one global batch \(512: .*fewer"
    ):
        train.main(argv)
