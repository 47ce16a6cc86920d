"""Labelled text from a SageMaker channel: reading, label maps, tokenising, batching.

Batches are a pure function of (seed, epoch), so a resumed run replays exactly
the order an uninterrupted run would have seen, and every DDP rank agrees on it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import contract
import data_files
import torch

SUFFIXES = contract.DATA_SUFFIXES


class DataError(ValueError):
    """The channel's files cannot be used as they are."""


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    source: str  # file:line, for error messages


def read_examples(directory: str | Path, text_column: str, label_column: str) -> list[Example]:
    examples = []
    for path in channel_files(directory, text_column, label_column):
        for item in data_files.records(path.suffix, path.read_text(encoding="utf-8-sig")):
            line, record = checked_row(path, item, text_column, label_column)
            text, label = str(record[text_column]), str(record[label_column]).strip()
            examples.append(Example(text=text, label=label, source=f"{path.name}:{line}"))
    return examples


def data_files_in(directory: str | Path) -> list[Path]:
    """The data files under ``directory`` in the order a channel's are read; none is an empty list."""
    return sorted(p for p in Path(directory).rglob("*") if p.suffix in SUFFIXES and p.is_file())


def channel_files(directory: str | Path, text_column: str, label_column: str) -> list[Path]:
    """The channel's data files in the order they are read; none at all is an error naming what to upload."""
    files = data_files_in(directory)
    if not files:
        raise DataError(
            f"{directory}: no {', '.join(SUFFIXES)} files. Fix: upload CSV or JSON Lines with "
            f"'{text_column}' and '{label_column}' fields."
        )
    return files


def checked_row(
    path: Path, item: tuple[int, dict] | data_files.Problem, text_column: str, label_column: str
) -> tuple[int, dict]:
    """A record a job can use, or the DataError naming its file, line, problem and fix."""
    if isinstance(item, data_files.Problem):
        raise unusable(path, item)
    line, record = item
    problem = data_files.row_problem(line, record, text_column, label_column, options="--text_column/--label_column")
    if problem is not None:
        raise unusable(path, problem)
    return line, record


def unusable(path: Path, problem: data_files.Problem) -> DataError:
    return DataError(f"{path.name}:{problem.line}: {problem.problem}. Fix: {problem.fix}.")


def dataset_version(directory: str | Path) -> str | None:
    """The version `textclf data upload` wrote beside the train split, if it did."""
    path = Path(directory) / contract.DATASET_VERSION_FILE
    return path.read_text().strip() if path.is_file() else None


def label_names(examples: Sequence[Example], declared: Sequence[str] = ()) -> list[str]:
    """Label names in id order: as declared, else integer ids in order, else sorted names.

    With declared names, a label may be given by name or by its integer id, the same way throughout.
    """
    seen = sorted({e.label for e in examples})
    if declared:
        names = list(declared)
        for label in seen:
            if data_files.label_id(label, names) is None:
                example = next(e for e in examples if e.label == label)
                raise DataError(
                    f"{example.source}: label {label!r} is neither a name nor an id in "
                    f"--labels {','.join(names)}. Fix: add it to --labels or correct the data."
                )
    mixed = data_files.mixed_labels(list(dict.fromkeys(e.label for e in examples)), declared)
    if mixed is not None:
        odd, problem, fix = mixed
        raise DataError(f"{next(e.source for e in examples if e.label == odd)}: {problem}. Fix: {fix}.")
    if declared:
        return list(declared)
    if all(label.isdigit() for label in seen):
        return [str(i) for i in range(max(int(label) for label in seen) + 1)]
    return seen


def encode_labels(examples: Sequence[Example], names: Sequence[str]) -> list[int]:
    ids = [data_files.label_id(e.label, names) for e in examples]
    assert None not in ids, "label_names checked every label against the names"
    return [i for i in ids if i is not None]


@dataclass
class EncodedDataset:
    input_ids: Sequence[list[int]]  # held (encode) or tokenized when read (text_index)
    labels: Sequence[int]
    lengths: Sequence[int]  # tokens per example: batches group by it without reading the texts

    def __len__(self) -> int:
        return len(self.labels)


def encode(tokenizer, examples: Sequence[Example], labels: Sequence[int], max_length: int) -> EncodedDataset:
    encoded = tokenizer([e.text for e in examples], truncation=True, max_length=max_length)
    ids = encoded["input_ids"]
    return EncodedDataset(input_ids=ids, labels=list(labels), lengths=[len(row) for row in ids])


def epoch_batches(
    lengths: Sequence[int], batch_size: int, seed: int, epoch: int, *, group_by_length: bool, drop_last: bool = True
) -> list[list[int]]:
    """The batches of one epoch, shuffled by (seed, epoch); grouped by length if asked.

    Grouping sorts windows of 50 batches by length, then shuffles the batch
    order, as Hugging Face's length-grouped sampler does: padding shrinks while
    each batch still mixes the dataset.
    """
    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if group_by_length:
        window = batch_size * 50
        order = [
            i
            for start in range(0, len(order), window)
            for i in sorted(order[start : start + window], key=lambda j: -lengths[j])
        ]
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if drop_last and batches and len(batches[-1]) < batch_size:
        batches.pop()
    if group_by_length:
        rng.shuffle(batches)
    return batches


def collate(dataset: EncodedDataset, indices: Sequence[int], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad to the longest text in this batch only (dynamic padding)."""
    rows = [dataset.input_ids[i] for i in indices]
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, row in enumerate(rows):
        input_ids[r, : len(row)] = torch.tensor(row, dtype=torch.long)
        attention_mask[r, : len(row)] = 1
    labels = torch.tensor([dataset.labels[i] for i in indices], dtype=torch.long)
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "labels": labels,
        "index": torch.tensor(list(indices), dtype=torch.long),
    }
