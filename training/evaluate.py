#!/usr/bin/env python3
"""Evaluate a trained model on a held-out channel exactly as the endpoint serves it; the pipeline's processing step.

The model is scored through the endpoint's own class (inference/classifier.py): the same tokenizer
call, truncation and window, the same batching, and int8 when the stage serves int8. It calls no AWS API,
so the job runs network-isolated; the registry's baseline is the Baseline step's (baseline.py). Writes to
--output_dir:
  evaluation.json          SageMaker model-quality format for what is served; the pipeline's condition
                           reads multiclass_classification_metrics.accuracy.value. With --teacher_path
                           it also carries the teacher's figures and where the teacher came from.
  gate.json                the other numbers the condition compares: the lowest per-class recall, the
                           teacher floor (--min_teacher_ratio x the teacher's accuracy), and fp32 and
                           int8 accuracy with the int8 verdict the package hands to the endpoint; and
                           the probe set registration stores with the package (choose_probes)
  model_data.json          sha256 and size of the model.tar.gz evaluated; registration records it,
                           and every stage that serves the model checks its copy against it
  predictions.jsonl        one line per test example: true label, served prediction, its score, correct
  monitoring_baseline.json what the endpoint's monitor compares served traffic with: the predicted-class mix,
                           top-score deciles, token-length buckets and deciles, the share the window cut and
                           the share of unknown-token pieces, from the signals the endpoint logs (registration
                           stores it as the package's ModelDataQuality statistics; gate.json carries the
                           compared figures for the package's metadata)
No charts: the container has no plotting library to rely on. `textclf charts` (cli/charts.py) draws them
from evaluation.json and predictions.jsonl when a report is written.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import itertools
import json
import math
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import archives
import calibration
import contract
import metrics
import text_data
import torch

# The endpoint's own modules: the job puts the bundle's inference/ folder on PYTHONPATH, as the
# endpoint has its code/ folder on it.
from classifier import Signal, TextClassifier, int8_verified, threads_per_worker
from payloads import Request

SERVED = ("fp32", "int8")
UNCALIBRATED_ECE = "expected_calibration_error_uncalibrated"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0], allow_abbrev=False)
    p.add_argument(
        "--model_path",
        default=contract.processing_input(contract.MODEL),
        help="model directory, or a directory or path holding model.tar.gz",
    )
    p.add_argument(
        "--teacher_path",
        default=None,
        help="distillation: the teacher, scored the same way; its accuracy sets the teacher floor",
    )
    p.add_argument(
        "--teacher_source",
        default="",
        help="distillation: where the teacher came from (its model data URL or package ARN), for lineage",
    )
    p.add_argument(
        "--test_dir",
        default=contract.processing_input(contract.TEST),
        help="directory of CSV/JSONL files with text and label",
    )
    p.add_argument(
        "--shift_dir",
        default=contract.processing_input(contract.SHIFT),
        help="optional: texts unlike the test split (another domain, long texts) with labels; int8 is served only "
        "if it answers as fp32 on 99%% of them, and the report gives their figures (skipped when absent)",
    )
    p.add_argument(
        "--output_dir",
        default=contract.EVALUATION_OUTPUT,
        help="where evaluation.json, gate.json and predictions.jsonl go",
    )
    p.add_argument("--text_column", default="text", help="name of the text field")
    p.add_argument("--label_column", default="label", help="name of the label field")
    p.add_argument(
        "--serve",
        choices=SERVED,
        default="fp32",
        help="what the stage's endpoint serves (int8: TEXTCLF_QUANTIZE=int8); the gate scores that",
    )
    p.add_argument(
        "--min_teacher_ratio",
        type=_fraction,
        default=0.97,
        help="distillation: the student must reach this fraction of the teacher's accuracy",
    )
    return p.parse_args(argv)


def _fraction(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0.0 <= number <= 1.0:
        raise argparse.ArgumentTypeError(
            f"expected a fraction within 0..1 such as 0.97, got {value!r} (pipeline parameter MinTeacherRatio)"
        )
    return number


@dataclass(frozen=True)
class Scored:
    """What the endpoint answers for each example, and the report built from it."""

    predictions: list[str]
    scores: list[float]
    correct: list[bool]
    report: dict
    signals: list[Signal] = field(default_factory=list)
    uncalibrated_scores: list[float] = field(default_factory=list)


def score(model_dir: str, examples: list, *, quantize: str) -> Scored:
    """Score as the endpoint does: its class, its long-text strategy and temperature, its batching; every text in
    one request. The report also gives the calibration error the scores had without the temperature."""
    served = load(model_dir, quantize)
    names = served.labels
    text_data.label_names(examples, names)  # a test label the model cannot predict fails, named
    done = served.forward(_request([example.text for example in examples]))
    labels = torch.tensor(text_data.encode_labels(examples, names))
    confidence, predicted = done.served.max(dim=-1)
    raw_confidence, raw_predicted = done.probabilities(1.0).max(dim=-1)
    correct = predicted == labels
    report = metrics.classification_report(labels, predicted, names)
    report["expected_calibration_error"] = calibration.expected_calibration_error(confidence, correct)
    report[UNCALIBRATED_ECE] = calibration.expected_calibration_error(raw_confidence, raw_predicted == labels)
    report["temperature"] = served.temperature
    report["long_text"] = served.long_text
    report["examples"] = len(examples)
    report["labels"] = names
    predictions = [names[i] for i in predicted.tolist()]
    return Scored(predictions, confidence.tolist(), correct.tolist(), report, done.signals(), raw_confidence.tolist())


def agreement(one: Scored, other: Scored) -> float:
    """The share of examples both answer with the same class."""
    same = sum(a == b for a, b in zip(one.predictions, other.predictions, strict=True))
    return same / len(one.predictions) if one.predictions else 1.0


@functools.cache
def load(model_dir: str, quantize: str) -> TextClassifier:
    """The endpoint's class, loaded once per model and quantization: scoring and choosing probes share it."""
    return TextClassifier.load(model_dir, quantize=quantize)


def answer(served: TextClassifier, texts: list[str]) -> list[dict]:
    return served.predict(_request(texts))


def _request(texts: list[str]) -> Request:
    # The endpoint splits the CPUs between its workers; this job is the only worker.
    torch.set_num_threads(threads_per_worker(workers=1))
    return Request(texts=texts)


def monitoring_baseline(served: Scored, tokenizer, texts: list[str]) -> dict:
    """What served traffic is compared with, from the signals the endpoint logs for the same texts."""
    signals, labels = served.signals, served.report["labels"]
    count = len(signals)
    lengths = [contract.length_bucket(s.tokens, s.truncated) for s in signals]
    pieces = tokenizer(texts, add_special_tokens=False)["input_ids"]
    unknown = tokenizer.unk_token_id
    total_pieces = sum(map(len, pieces)) or 1
    return {
        "examples": count,
        "labels": labels,
        "class_mix": [sum(s.predicted == i for s in signals) / count for i in range(len(labels))],
        "mean_score": sum(s.score for s in signals) / count,
        "score_deciles": deciles([s.score for s in signals]),
        "length_edges": list(contract.LENGTH_EDGES),
        "length": [lengths.count(b) / count for b in range(contract.LENGTH_BUCKETS)],
        "token_deciles": deciles([s.tokens for s in signals]),
        "truncated_share": sum(s.truncated for s in signals) / count,
        "unknown_token_share": sum(ids.count(unknown) for ids in pieces) / total_pieces if unknown is not None else 0.0,
    }


def deciles(values: list[float]) -> list[float]:
    ordered = sorted(values)
    return [ordered[min(len(ordered) - 1, len(ordered) * k // 10)] for k in range(1, 10)]


def monitor_metadata(baseline: dict) -> dict[str, str]:
    """gate.json's "monitor" object: the compared figures as package metadata values."""
    values = {
        "class_mix": contract.encode_shares(baseline["class_mix"]),
        "length": contract.encode_shares(baseline["length"]),
        "mean_score": f"{baseline['mean_score']:.4f}",
    }
    return {name: values[key] for name, key in contract.MONITOR_METADATA.items()}


def choose_probes(answer_texts: Callable[[list[str]], list[dict]], examples: list, served: Scored) -> dict[str, str]:
    """PROBE_COUNT metadata values: texts the served model answered rightly and most surely, taken from each
    label in turn (a model that answers one label to everything fails the others' share), each cut to what a
    metadata value holds and answered again as cut, so a probe's label is what the model answers for that text.
    Fewer texts than PROBE_COUNT repeat; none at all (no sure right answer) leaves every value NO_PROBE."""
    ranked = sorted(range(len(examples)), key=lambda i: -served.scores[i])
    by_label: dict[str, list[str]] = {}
    for i in ranked:
        label = served.predictions[i]
        fitted = _fitting(label, examples[i].text)
        if served.correct[i] and fitted and len(by_label.setdefault(label, [])) < contract.PROBE_COUNT:
            by_label[label].append(fitted)
    pairs = [(label, text) for label, group in by_label.items() for text in group]
    answered = answer_texts([text for _, text in pairs]) if pairs else []
    kept: dict[str, list[tuple[str, str]]] = {}
    for (label, text), found in zip(pairs, answered, strict=True):
        if found["label"] == label and found["score"] >= contract.PROBE_MIN_SCORE:
            kept.setdefault(label, []).append((label, text))
    chosen = [probe for turn in itertools.zip_longest(*kept.values()) for probe in turn if probe]
    values = [contract.encode_probe(*probe) for probe in chosen] or [contract.NO_PROBE]
    return {contract.probe_metadata_name(i): values[i % len(values)] for i in range(contract.PROBE_COUNT)}


def _fitting(label: str, text: str) -> str:
    """``text``, or as many of its first words as fit a probe's metadata value ("" when none do)."""
    words = text.split()
    while words and len(contract.encode_probe(label, " ".join(words))) > contract.PROBE_VALUE_CHARACTERS:
        words = words[: len(words) * 3 // 4]
    return " ".join(words)


def sagemaker_model_quality(report: dict) -> dict:
    """The model-quality statistics format that CreateModelPackage's ModelMetrics point to."""
    n = report["examples"]

    def metric(value: float) -> dict:
        # Binomial standard error for proportions; a fair yardstick for comparing models.
        return {"value": value, "standard_deviation": math.sqrt(max(value * (1 - value), 0.0) / max(n, 1))}

    names = report["labels"]
    per_class = report["per_class"]
    support = sum(c["support"] for c in per_class.values()) or 1
    weighted = {
        k: sum(c[k] * c["support"] for c in per_class.values()) / support for k in ("precision", "recall", "f1")
    }
    return {
        "multiclass_classification_metrics": {
            "accuracy": metric(report["accuracy"]),
            "macro_f1": metric(report["f1_macro"]),
            "weighted_precision": metric(weighted["precision"]),
            "weighted_recall": metric(weighted["recall"]),
            "weighted_f1": metric(weighted["f1"]),
            # No standard error is known for it: the field is left out rather than written as a "NaN" string.
            "expected_calibration_error": {"value": report["expected_calibration_error"]},
            UNCALIBRATED_ECE: {"value": report[UNCALIBRATED_ECE]},
            "temperature": {"value": report["temperature"]},
            "confusion_matrix": {
                t: {p: report["confusion_matrix"][i][j] for j, p in enumerate(names)} for i, t in enumerate(names)
            },
            "per_class": per_class,
        }
    }


def gate(
    fp32: Scored,
    int8: Scored,
    teacher: Scored | None,
    args: argparse.Namespace,
    shift: tuple[Scored, Scored] | None = None,
) -> tuple[Scored, dict]:
    """What is served and the numbers the pipeline's condition compares; ``shift`` is the shift channel's fp32 and
    int8 scores, when there is one."""
    int8_agreement = agreement(*shift) if shift else None
    verified = int8_verified(fp32.report["accuracy"], int8.report["accuracy"], int8_agreement)
    served = int8 if args.serve == "int8" and verified else fp32
    recalls = {name: figures["recall"] for name, figures in served.report["per_class"].items()}
    weakest = min(recalls, key=recalls.__getitem__)
    teacher_accuracy = teacher.report["accuracy"] if teacher else None
    figures = {
        contract.GATE_SERVED: "int8" if served is int8 else "fp32",
        "accuracy": served.report["accuracy"],
        contract.GATE_FP32_ACCURACY: fp32.report["accuracy"],
        contract.GATE_INT8_ACCURACY: int8.report["accuracy"],
        contract.GATE_INT8_AGREEMENT: int8_agreement,
        # A string: the registered container's environment carries it to the endpoint as is.
        contract.GATE_INT8_VERIFIED: "true" if verified else "false",
        contract.GATE_MIN_CLASS_RECALL: recalls[weakest],
        contract.GATE_MIN_CLASS_RECALL_LABEL: weakest,
        contract.GATE_TEACHER_ACCURACY: teacher_accuracy,
        "min_teacher_ratio": args.min_teacher_ratio if teacher else None,
        # 0 without a teacher, so the same comparison holds in the fine-tune pipeline.
        contract.GATE_TEACHER_FLOOR: args.min_teacher_ratio * teacher_accuracy if teacher else 0.0,
    }
    metadata = {key: f"{figures[key]:.4f}" for key in contract.PACKAGE_METADATA.values()}
    if teacher:
        metadata[contract.GATE_TEACHER_ACCURACY] = f"{teacher_accuracy:.4f}"
        metadata[contract.GATE_TEACHER_SOURCE] = args.teacher_source or "not recorded"
    figures[contract.GATE_METADATA] = metadata
    return served, figures


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    examples = text_data.read_examples(Path(args.test_dir), args.text_column, args.label_column)
    with tempfile.TemporaryDirectory() as scratch:
        model_dir = archives.resolve_model(args.model_path, Path(scratch), field="--model_path")
        fp32, int8 = score(model_dir, examples, quantize="none"), score(model_dir, examples, quantize="int8")
        teacher = None
        if args.teacher_path:
            teacher_dir = archives.resolve_model(args.teacher_path, Path(scratch), field="--teacher_path")
            teacher = score(teacher_dir, examples, quantize="none")
        shift_examples = _shift_examples(args)
        shift = None
        if shift_examples:
            shift = (
                score(model_dir, shift_examples, quantize="none"),
                score(model_dir, shift_examples, quantize="int8"),
            )
        served, figures = gate(fp32, int8, teacher, args, shift)
        model = load(model_dir, "int8" if served is int8 else "none")
        figures[contract.GATE_PROBES] = choose_probes(lambda texts: answer(model, texts), examples, served)
        baseline = monitoring_baseline(served, model.tokenizer, [example.text for example in examples])
        figures[contract.GATE_MONITOR] = monitor_metadata(baseline)
    quality = sagemaker_model_quality(served.report)
    if teacher is not None:
        quality["teacher"] = {**sagemaker_model_quality(teacher.report), "source": args.teacher_source}
    if shift is not None:
        shift_fp32, shift_int8 = shift
        quality[contract.SHIFT] = sagemaker_model_quality((shift_int8 if served is int8 else shift_fp32).report)
    write_json(output / contract.EVALUATION_FILE, quality)
    write_json(output / contract.GATE_FILE, figures)
    write_json(output / contract.MODEL_DATA_FILE, model_data_digest(Path(args.model_path)))
    write_predictions(output / contract.PREDICTIONS_FILE, examples, served)
    write_json(output / contract.MONITOR_BASELINE_FILE, baseline)
    report = served.report
    print(
        f"evaluation: examples={report['examples']} served={figures['served']} accuracy={report['accuracy']:.4f} "
        f"f1_macro={report['f1_macro']:.4f} min_class_recall={figures['min_class_recall']:.4f} "
        f"fp32_accuracy={figures['fp32_accuracy']:.4f} int8_accuracy={figures['int8_accuracy']:.4f}"
        + (f" teacher_accuracy={figures['teacher_accuracy']:.4f}" if teacher else "")
        + (f" int8_agreement={figures[contract.GATE_INT8_AGREEMENT]:.4f}" if shift else "")
        + f" long_text={report['long_text']} temperature={report['temperature']:.3f}"
        + f" ece={report['expected_calibration_error']:.4f} ece_uncalibrated={report[UNCALIBRATED_ECE]:.4f}"
        + f" output={output}"
    )
    return 0


def _shift_examples(args: argparse.Namespace) -> list:
    """The shift channel's examples; none when the job has no such channel or it holds no data file (a dataset
    uploaded without one leaves contract.NO_SHIFT_FILE there)."""
    folder = Path(args.shift_dir)
    if not folder.is_dir() or not text_data.data_files_in(folder):
        return []
    return text_data.read_examples(folder, args.text_column, args.label_column)


def model_data_digest(model_path: Path) -> dict:
    """What exactly was evaluated: the archive's SHA-256, so what is served later can be checked against it."""
    archive = archives.archive_in(model_path)
    if archive is None:
        return {
            contract.MODEL_DATA_SHA256_FIELD: "",
            "bytes": 0,
            "note": "evaluated an extracted directory, not model.tar.gz",
        }
    digest = hashlib.sha256()
    with open(archive, "rb") as data:
        for chunk in iter(lambda: data.read(1 << 20), b""):
            digest.update(chunk)
    return {contract.MODEL_DATA_SHA256_FIELD: digest.hexdigest(), "bytes": archive.stat().st_size}


def write_predictions(path: Path, examples: list, served: Scored) -> None:
    with path.open("w") as out:
        rows = zip(examples, served.predictions, served.scores, served.uncalibrated_scores, served.correct, strict=True)
        for example, predicted, confidence, uncalibrated, correct in rows:
            # "label" as the data spells it (it may be an id, e.g. 1); "correct" compares it as the metrics do.
            record = {"source": example.source, "label": example.label, "predicted": predicted, "score": confidence}
            out.write(json.dumps({**record, contract.UNCALIBRATED_SCORE: uncalibrated, "correct": correct}) + "\n")


def write_json(path: Path, document: dict) -> None:
    path.write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
