#!/usr/bin/env python3
"""Evaluate a trained model on a held-out channel; the pipeline's processing step.

Writes to --output_dir:
  evaluation.json          SageMaker model-quality format; the pipeline's condition reads
                           multiclass_classification_metrics.accuracy.value
  confusion_matrix.png     rows true, columns predicted
  confidence_histogram.png correct (green) and wrong (red) predictions per confidence bin
  baseline.json            minimum_accuracy: the latest approved model's accuracy minus
                           --regression_margin (0 when none is approved or no group is given)
  model_data.json          sha256 and size of the model.tar.gz evaluated; registration records it,
                           and every stage that serves the model checks its copy against it
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import tarfile
import tempfile
from pathlib import Path

import torch

import charts
import metrics
import modeling
import text_data

PROCESSING = Path("/opt/ml/processing")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    p.add_argument("--model_path", default=str(PROCESSING / "model"), help="model directory, or a directory or path holding model.tar.gz")
    p.add_argument("--test_dir", default=str(PROCESSING / "test"), help="directory of CSV/JSONL files with text and label")
    p.add_argument("--output_dir", default=str(PROCESSING / "evaluation"), help="where evaluation.json and the PNGs go")
    p.add_argument("--text_column", default="text", help="name of the text field")
    p.add_argument("--label_column", default="label", help="name of the label field")
    p.add_argument("--batch_size", type=int, default=128, help="examples per inference batch")
    p.add_argument("--max_length", type=int, default=128, help="truncate inputs to this many tokens")
    p.add_argument("--model_package_group", default=None,
                   help="registry group whose latest approved model sets the baseline (default: no baseline)")
    p.add_argument("--regression_margin", type=float, default=0.0,
                   help="how far below the approved model's accuracy a new model may score, as a fraction")
    return p.parse_args(argv)


def resolve_model_dir(model_path: Path, scratch: Path) -> Path:
    """Accept an extracted model directory or SageMaker's model.tar.gz."""
    archive = model_path if model_path.suffixes[-2:] == [".tar", ".gz"] else model_path / "model.tar.gz"
    if archive.is_file():
        with tarfile.open(archive) as tar:
            tar.extractall(scratch, filter="data")
        return scratch
    if (model_path / "config.json").is_file():
        return model_path
    raise FileNotFoundError(f"{model_path}: neither a model directory (config.json) nor model.tar.gz. "
                            "Fix: point --model_path at the training job's model artifact.")


def model_data_digest(model_path: Path) -> dict:
    """What exactly was evaluated: the archive's SHA-256, so what is served later can be checked against it."""
    archive = model_path if model_path.is_file() else model_path / "model.tar.gz"
    if not archive.is_file():
        return {"sha256": "", "bytes": 0, "note": "evaluated an extracted directory, not model.tar.gz"}
    digest = hashlib.sha256()
    with open(archive, "rb") as data:
        for chunk in iter(lambda: data.read(1 << 20), b""):
            digest.update(chunk)
    return {"sha256": digest.hexdigest(), "bytes": archive.stat().st_size}


def evaluate(model_dir: Path, test_dir: Path, args: argparse.Namespace) -> dict:
    tokenizer = modeling.load_tokenizer(str(model_dir))
    model = modeling.load_teacher(str(model_dir))
    names = [model.config.id2label[i] for i in range(len(model.config.id2label))]
    examples = text_data.read_examples(test_dir, args.text_column, args.label_column)
    text_data.label_names(examples, names)
    dataset = text_data.encode(tokenizer, examples, text_data.encode_labels(examples, names), args.max_length)
    order = sorted(range(len(dataset)), key=lambda i: len(dataset.input_ids[i]))
    groups = [order[i:i + args.batch_size] for i in range(0, len(order), args.batch_size)]
    logits = modeling.predict_logits(model, (text_data.collate(dataset, g, tokenizer.pad_token_id or 0) for g in groups),
                                     torch.device("cpu"))
    by_example = torch.empty_like(logits)
    by_example[torch.tensor(order)] = logits
    labels = torch.tensor(dataset.labels)
    probabilities = by_example.softmax(-1)
    confidence, predictions = probabilities.max(-1)
    report = metrics.classification_report(labels, predictions, names)
    report["expected_calibration_error"] = expected_calibration_error(confidence, predictions == labels)
    report["examples"] = len(dataset)
    report["labels"] = names
    report["_charts"] = (confidence.tolist(), (predictions == labels).tolist())
    return report


def expected_calibration_error(confidence: torch.Tensor, correct: torch.Tensor, bins: int = 10) -> float:
    edges = torch.clamp((confidence * bins).long(), max=bins - 1)
    total = 0.0
    for b in range(bins):
        members = edges == b
        if members.any():
            total += members.float().mean().item() * abs(confidence[members].mean().item()
                                                          - correct[members].float().mean().item())
    return total


def sagemaker_model_quality(report: dict) -> dict:
    """The model-quality statistics format that CreateModelPackage's ModelMetrics point to."""
    n = report["examples"]

    def metric(value: float) -> dict:
        # Binomial standard error for proportions; a fair yardstick for comparing models.
        return {"value": value, "standard_deviation": math.sqrt(max(value * (1 - value), 0.0) / max(n, 1))}

    names = report["labels"]
    per_class = report["per_class"]
    support = sum(c["support"] for c in per_class.values()) or 1
    weighted = {k: sum(c[k] * c["support"] for c in per_class.values()) / support for k in ("precision", "recall", "f1")}
    return {"multiclass_classification_metrics": {
        "accuracy": metric(report["accuracy"]),
        "macro_f1": metric(report["f1_macro"]),
        "weighted_precision": metric(weighted["precision"]),
        "weighted_recall": metric(weighted["recall"]),
        "weighted_f1": metric(weighted["f1"]),
        "expected_calibration_error": {"value": report["expected_calibration_error"], "standard_deviation": "NaN"},
        "confusion_matrix": {t: {p: report["confusion_matrix"][i][j] for j, p in enumerate(names)}
                             for i, t in enumerate(names)},
        "per_class": per_class,
    }}


def read_baseline(args: argparse.Namespace) -> dict:
    import approved_baseline

    if not args.model_package_group:
        return approved_baseline.baseline(None, None, None, args.regression_margin)
    import boto3

    return approved_baseline.baseline(boto3.client("sagemaker"), boto3.client("s3"), args.model_package_group,
                                      args.regression_margin)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        report = evaluate(resolve_model_dir(Path(args.model_path), Path(scratch)), Path(args.test_dir), args)
    confidences, correct = report.pop("_charts")
    (output / "evaluation.json").write_text(json.dumps(sagemaker_model_quality(report), indent=2) + "\n")
    charts.confusion_matrix_png(report["confusion_matrix"], output / "confusion_matrix.png")
    charts.confidence_histogram_png(confidences, correct, output / "confidence_histogram.png")
    (output / "baseline.json").write_text(json.dumps(read_baseline(args), indent=2) + "\n")
    (output / "model_data.json").write_text(json.dumps(model_data_digest(Path(args.model_path)), indent=2) + "\n")
    print(f"evaluation: examples={report['examples']} accuracy={report['accuracy']:.4f} "
          f"f1_macro={report['f1_macro']:.4f} ece={report['expected_calibration_error']:.4f} output={output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
