"""A channel's labelled texts, indexed by where each record starts and read when a batch needs it.

train.py holds 18 bytes per example (file, offset, size, label) and each example's token count, never the texts or
their tokens: memory stays flat as the data grows, and a channel in FastFile mode streams from S3 as it is read
(SageMaker Developer Guide, "Access Training Data": FastFile "exposes S3 objects ... as files" and "streams" them
on read). Every record is still read and checked once at the start, so a bad row fails the job before training,
with the same message as `textclf data validate` (data_files).
"""

from __future__ import annotations

import csv
import io
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import contract
import data_files
from text_data import DataError, EncodedDataset, Example

LENGTH_CHUNK = 1024  # texts tokenized at once while counting tokens: batched is faster, and still bounded


class TextIndex:
    """Where each example of a channel's files is, its label, and how to read its text back."""

    def __init__(self, directory: str | Path, text_column: str, label_column: str) -> None:
        self.text_column, self.label_column = text_column, label_column
        self.files = sorted(p for p in Path(directory).rglob("*") if p.suffix in contract.DATA_SUFFIXES and p.is_file())
        if not self.files:
            raise DataError(
                f"{directory}: no {', '.join(contract.DATA_SUFFIXES)} files. Fix: upload CSV or JSON Lines with "
                f"'{text_column}' and '{label_column}' fields."
            )
        self.file_ids, self.offsets, self.sizes, self.label_ids = array("I"), array("q"), array("I"), array("H")
        self.label_values: list[str] = []
        self.first_source: dict[str, str] = {}  # label -> where it first appears, for error messages
        self.headers: list[list[str] | None] = []
        self._handles: dict[int, BinaryIO] = {}
        for number, path in enumerate(self.files):
            self._index_file(number, path)

    def __len__(self) -> int:
        return len(self.offsets)

    def _index_file(self, number: int, path: Path) -> None:
        header: list[str] | None = None
        with path.open("rb") as handle:
            for line, offset, raw in _spans(handle, csv_file=path.suffix == ".csv"):
                item = _parse(path.suffix, line, raw, header)
                if isinstance(item, list):  # a CSV file's header row
                    header = item
                    continue
                if isinstance(item, data_files.Problem):
                    raise _unusable(path, item)
                line, record = item
                problem = data_files.row_problem(
                    line, record, self.text_column, self.label_column, options="--text_column/--label_column"
                )
                if problem is not None:
                    raise _unusable(path, problem)
                label = str(record[self.label_column]).strip()
                if label not in self.first_source:
                    self.first_source[label] = f"{path.name}:{line}"
                    self.label_values.append(label)
                self.file_ids.append(number)
                self.offsets.append(offset)
                self.sizes.append(len(raw))
                self.label_ids.append(self.label_values.index(label))
        if path.suffix == ".csv" and header is None:
            raise _unusable(path, data_files.Problem(1, "no header row", "put the column names on the first line"))
        self.headers.append(header)

    def label_examples(self) -> list[Example]:
        """One example per distinct label (text left out), for text_data.label_names and its messages."""
        return [Example(text="", label=label, source=self.first_source[label]) for label in self.label_values]

    def labels(self, names: Sequence[str]) -> list[int]:
        """Each example's label id among ``names`` (text_data.label_names has checked every label)."""
        ids = [data_files.label_id(label, names) for label in self.label_values]
        assert None not in ids, "label_names checked every label against the names"
        return [ids[i] or 0 for i in self.label_ids]

    def text(self, index: int) -> str:
        number = self.file_ids[index]
        handle = self._handles.get(number)
        if handle is None:
            handle = self._handles[number] = self.files[number].open("rb")
        handle.seek(self.offsets[index])
        raw = handle.read(self.sizes[index])
        item = _parse(self.files[number].suffix, 0, raw, self.headers[number])
        assert isinstance(item, tuple), "indexed records parsed when the index was built"
        return str(item[1][self.text_column])

    def encoded(self, tokenizer, names: Sequence[str], max_length: int) -> EncodedDataset:
        """The examples as train.py batches them: tokens made when a batch reads them, lengths counted now."""
        lengths = array("I")
        for start in range(0, len(self), LENGTH_CHUNK):
            texts = [self.text(i) for i in range(start, min(start + LENGTH_CHUNK, len(self)))]
            lengths.extend(len(ids) for ids in tokenizer(texts, truncation=True, max_length=max_length)["input_ids"])
        return EncodedDataset(
            input_ids=LazyTokens(self, tokenizer, max_length), labels=self.labels(names), lengths=lengths
        )


class LazyTokens(Sequence):
    """input_ids[i], tokenized when read: what a batch needs, never the whole channel."""

    def __init__(self, texts: TextIndex, tokenizer, max_length: int) -> None:
        self.texts, self.tokenizer, self.max_length = texts, tokenizer, max_length

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, i):  # type: ignore[override]
        return self.tokenizer(self.texts.text(i), truncation=True, max_length=self.max_length)["input_ids"]


def _spans(handle, *, csv_file: bool) -> Iterator[tuple[int, int, bytes]]:
    """Each record's first line number, byte offset and bytes. A CSV record runs on while a quote is open: RFC 4180
    writes a quote inside a text as two, so an odd count of quotes so far means the record continues."""
    offset, line, record, start_line, start = 0, 0, b"", 0, 0
    for raw in handle:
        line += 1
        if not record:
            start_line, start = line, offset
        offset += len(raw)
        record += raw
        if csv_file and record.count(b'"') % 2:
            continue
        if record.strip():
            yield start_line, start, record
        record = b""
    if record.strip():
        yield start_line, start, record


Parsed = tuple[int, dict] | list | data_files.Problem


def _parse(suffix: str, line: int, raw: bytes, header: list[str] | None) -> Parsed:
    """A record as data_files reads it: (line, fields), a CSV header (list), or the problem with it."""
    text = raw.decode("utf-8")
    if suffix != ".csv":
        return data_files.jsonl_record(line, text)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        row = next(reader)
    except csv.Error as error:
        return data_files.csv_problem(line, error)
    if raw.count(b'"') % 2:
        return data_files.csv_problem(line, csv.Error("unexpected end of data"))
    if header is None:
        return row
    return line, {name: row[i] if i < len(row) else None for i, name in enumerate(header)}


def _unusable(path: Path, problem: data_files.Problem) -> DataError:
    return DataError(f"{path.name}:{problem.line}: {problem.problem}. Fix: {problem.fix}.")
