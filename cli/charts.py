"""`textclf charts`: the evaluation's charts, drawn with matplotlib from what the Evaluate step wrote.

The evaluation runs network-isolated in the training container, which has no plotting library to rely
on, so it writes numbers only: ``evaluation.json`` (SageMaker's model-quality format, confusion matrix
included) and ``predictions.jsonl``. The charts are drawn here, when a report is written
(`textclf local-run`) or for an evaluation folder downloaded from S3.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cli.errors import UserError, invalid_json
from training import contract

CONFUSION_MATRIX = "confusion_matrix.png"
CONFIDENCE_HISTOGRAM = "confidence_histogram.png"


def pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a build machine
    import matplotlib.pyplot as plt

    return plt


def confusion_matrix_figure(quality: dict):
    """Counts and the share of each true class, class names on both axes, a colour legend."""
    metrics = quality["multiclass_classification_metrics"]
    matrix = metrics["confusion_matrix"]
    names = list(matrix)
    counts = [[matrix[true].get(predicted, 0) for predicted in names] for true in names]
    total = sum(map(sum, counts))
    plt = pyplot()
    size = 2.2 + 0.9 * len(names)
    figure, axes = plt.subplots(figsize=(size + 1.4, size), dpi=120)
    image = axes.imshow(counts, cmap="Blues")
    for i, row in enumerate(counts):
        share = sum(row) or 1
        for j, count in enumerate(row):
            colour = "white" if count > 0.6 * max(map(max, counts)) else "black"
            axes.text(j, i, f"{count}\n{count / share:.0%}", ha="center", va="center", color=colour, fontsize=9)
    axes.set_xticks(range(len(names)), names, rotation=30, ha="right")
    axes.set_yticks(range(len(names)), names)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    accuracy = metrics["accuracy"]["value"]
    axes.set_title(f"Confusion matrix: {total} examples, accuracy {accuracy:.1%}\n(count, share of the true class)")
    figure.colorbar(image, ax=axes, label="examples")
    figure.tight_layout()
    return figure


def confidence_histogram_figure(predictions: list[dict], bins: int = 10):
    """How sure the served model was, for right and for wrong answers, side by side in each bin; and beside it how
    often it was right at each confidence, with the temperature (served) and without it, where evaluation gave both."""
    right = [p["score"] for p in predictions if _correct(p)]
    wrong = [p["score"] for p in predictions if not _correct(p)]
    plt = pyplot()
    figure, (axes, reliability) = plt.subplots(1, 2, figsize=(11, 4), dpi=120)
    edges = [i / bins for i in range(bins + 1)]
    axes.hist(
        [right, wrong],
        bins=edges,
        color=["seagreen", "indianred"],
        label=[f"correct ({len(right)})", f"wrong ({len(wrong)})"],
    )
    axes.set_xlabel("confidence of the served prediction (top score)")
    axes.set_ylabel("examples")
    axes.set_xlim(0, 1)
    axes.set_title(f"Confidence of {len(predictions)} predictions, correct vs wrong")
    axes.legend(loc="upper left")
    reliability.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfectly calibrated")
    curves = [
        ("score", "served (calibrated)", "tab:blue"),
        (contract.UNCALIBRATED_SCORE, "without the temperature", "tab:orange"),
    ]
    for key, name, color in curves:
        if all(key in p for p in predictions):
            centres, accuracy, error = _reliability([(p[key], _correct(p)) for p in predictions], bins)
            reliability.plot(centres, accuracy, marker="o", color=color, label=f"{name}: ECE {error:.3f}")
    reliability.set_xlabel("confidence (top score)")
    reliability.set_ylabel("share correct")
    reliability.set_xlim(0, 1)
    reliability.set_ylim(0, 1)
    reliability.set_title("Reliability: share correct at each confidence")
    reliability.legend(loc="upper left")
    figure.tight_layout()
    return figure


def _reliability(answers: list[tuple[float, bool]], bins: int) -> tuple[list[float], list[float], float]:
    """Each non-empty confidence bin's mean confidence and share correct, and the expected calibration error (the
    gap between them, weighted by the bin's share: training/calibration.py's measure)."""
    grouped: dict[int, list[tuple[float, bool]]] = {}
    for confidence, correct in answers:
        grouped.setdefault(min(int(confidence * bins), bins - 1), []).append((confidence, correct))
    centres, accuracy, error = [], [], 0.0
    for _, members in sorted(grouped.items()):
        mean_confidence = sum(c for c, _ in members) / len(members)
        share_correct = sum(ok for _, ok in members) / len(members)
        centres.append(mean_confidence)
        accuracy.append(share_correct)
        error += len(members) / len(answers) * abs(mean_confidence - share_correct)
    return centres, accuracy, error


def _correct(prediction: dict) -> bool:
    # "correct" is evaluate.py's own verdict: "label" may be an id (1) where "predicted" is a name (positive).
    return prediction["correct"] if "correct" in prediction else prediction["predicted"] == prediction["label"]


def save(figure, path: Path) -> Path:
    figure.savefig(path)
    pyplot().close(figure)
    return path


def draw(evaluation: Path, out: Path) -> list[Path]:
    """Both charts for an evaluation folder (evaluation.json and predictions.jsonl) into ``out``; the folder is read
    before anything is written."""
    if evaluation.is_file() and evaluation.name in (contract.EVALUATION_FILE, contract.PREDICTIONS_FILE):
        raise UserError(
            f"{evaluation}: is the file, not its folder. Fix: pass the folder that holds it, {evaluation.parent}."
        )
    missing = [
        name for name in (contract.EVALUATION_FILE, contract.PREDICTIONS_FILE) if not (evaluation / name).is_file()
    ]
    if missing:
        raise UserError(
            f"{evaluation}: no {' or '.join(missing)}. Fix: download the Evaluate step's output folder "
            "(s3://…/evaluations/<execution>/Evaluate/) and pass that folder."
        )
    quality = _json(evaluation / contract.EVALUATION_FILE, (evaluation / contract.EVALUATION_FILE).read_text())
    lines = (evaluation / contract.PREDICTIONS_FILE).read_text().splitlines()
    predictions = [
        _json(evaluation / contract.PREDICTIONS_FILE, line, number)
        for number, line in enumerate(lines, start=1)
        if line.strip()
    ]
    out.mkdir(parents=True, exist_ok=True)
    return [
        save(confusion_matrix_figure(quality), out / CONFUSION_MATRIX),
        save(confidence_histogram_figure(predictions), out / CONFIDENCE_HISTOGRAM),
    ]


def _json(path: Path, text: str, line: int | None = None):
    """``text`` parsed; ``line``: its line in ``path`` (JSON Lines), which the error names instead of the parser's."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        where = (
            f"{path}:{line}: not valid JSON ({error.msg} at column {error.colno})"
            if line
            else (f"{path}: {invalid_json(error)}")
        )
        raise UserError(
            f"{where}, so it is no output of the Evaluate step. Fix: download the step's output folder again."
        ) from None


def run(args: argparse.Namespace) -> int:
    for path in draw(Path(args.evaluation), Path(args.out or args.evaluation)):
        print(path)
    return 0


def add_parser(commands) -> None:
    charts = commands.add_parser(
        "charts", help="draw the confusion matrix and confidence histogram of an evaluation", description=__doc__
    )
    charts.add_argument("evaluation", help="a folder with the Evaluate step's evaluation.json and predictions.jsonl")
    charts.add_argument("--out", default=None, help="where the PNGs go (default: the evaluation folder)")
    charts.set_defaults(handler=run)
