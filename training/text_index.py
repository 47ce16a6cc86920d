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

import data_files
import long_text
import text_data
from text_data import EncodedDataset, Example

LENGTH_CHUNK = 1024  # texts tokenized at once while counting tokens: batched is faster, and still bounded


class TextIndex:
    """Where each example of a channel's files is, its label, and how to read its text back."""

    def __init__(self, directory: str | Path, text_column: str, label_column: str) -> None:
        self.text_column, self.label_column = text_column, label_column
        self.files = text_data.channel_files(directory, text_column, label_column)
        self.file_ids, self.offsets, self.sizes, self.label_ids = array("I"), array("q"), array("I"), array("H")
        # Each label, in the order first seen, with where it first appears (for error messages); its position
        # here is its number in label_ids.
        self.first_source: dict[str, str] = {}
        self._label_numbers: dict[str, int] = {}
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
                line, record = text_data.checked_row(path, item, self.text_column, self.label_column)
                label = str(record[self.label_column]).strip()
                if label not in self._label_numbers:
                    self._label_numbers[label] = len(self._label_numbers)
                    self.first_source[label] = f"{path.name}:{line}"
                self.file_ids.append(number)
                self.offsets.append(offset)
                self.sizes.append(len(raw))
                self.label_ids.append(self._label_numbers[label])
        if path.suffix == ".csv" and header is None:
            raise text_data.unusable(path, data_files.NO_HEADER)
        self.headers.append(header)

    def label_examples(self) -> list[Example]:
        """One example per distinct label (text left out), for text_data.label_names and its messages."""
        return [Example(text="", label=label, source=source) for label, source in self.first_source.items()]

    def labels(self, names: Sequence[str]) -> list[int]:
        """Each example's label id among ``names`` (text_data.label_names has checked every label)."""
        ids = [data_files.label_id(label, names) for label in self.first_source]
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

    def encoded(self, tokenizer, names: Sequence[str], max_length: int, strategy: str) -> EncodedDataset:
        """The examples as train.py batches them: tokens made when a batch reads them, lengths counted now. A long
        text is read as ``strategy`` reads it (its first window, for chunks)."""
        lengths = array("I")
        for start in range(0, len(self), LENGTH_CHUNK):
            texts = [self.text(i) for i in range(start, min(start + LENGTH_CHUNK, len(self)))]
            lengths.extend(len(read.ids[0]) for read in long_text.encode(tokenizer, texts, strategy, max_length))
        return EncodedDataset(
            input_ids=LazyTokens(self, tokenizer, max_length, strategy), labels=self.labels(names), lengths=lengths
        )

    def texts(self) -> Iterator[str]:
        return (self.text(i) for i in range(len(self)))


class LazyTokens(Sequence):
    """input_ids[i], tokenized when read: what a batch needs, never the whole channel."""

    def __init__(self, texts: TextIndex, tokenizer, max_length: int, strategy: str) -> None:
        self.texts, self.tokenizer, self.max_length, self.strategy = texts, tokenizer, max_length, strategy

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, i):  # type: ignore[override]
        (read,) = long_text.encode(self.tokenizer, [self.texts.text(i)], self.strategy, self.max_length)
        return read.ids[0]


def _spans(handle, *, csv_file: bool) -> Iterator[tuple[int, int, bytes]]:
    """Each record's first line number, byte offset and bytes. A CSV record runs on while a quote is open: RFC 4180
    writes a quote inside a text as two, so an odd count of quotes so far means the record continues."""
    offset, line, start_line, start, quotes = 0, 0, 0, 0, 0
    parts: list[bytes] = []
    for raw in handle:
        line += 1
        if line == 1 and raw.startswith(data_files.BOM):
            # As text_data reads a file (utf-8-sig): the mark is no part of the first record.
            offset, raw = len(data_files.BOM), raw.removeprefix(data_files.BOM)
        if not parts:
            start_line, start = line, offset
        offset += len(raw)
        parts.append(raw)
        quotes += raw.count(b'"') if csv_file else 0
        if quotes % 2:
            continue
        record = b"".join(parts)
        if record.strip():
            yield start_line, start, record
        parts, quotes = [], 0
    if parts and b"".join(parts).strip():
        yield start_line, start, b"".join(parts)


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
