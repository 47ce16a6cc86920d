"""What a valid data file is, for the training jobs (text_data) and for `textclf data validate` alike.

A file is CSV with a header row, or JSON Lines of objects (contract.DATA_SUFFIXES), in UTF-8. A row is usable when
it has both fields, a text that is not empty, and a label that is not empty; spreadsheets and pandas write a missing
value as one of MISSING. The jobs stop at the first problem; validation reports every one. Pure Python: it runs in
the training container and on the operator's machine.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass

# Texts a spreadsheet or pandas writes for a missing value.
MISSING = {"", "nan", "none", "null", "n/a", "na"}


@dataclass(frozen=True)
class Problem:
    """One row that cannot be used: what is wrong and how to fix it."""

    line: int
    problem: str
    fix: str
    # The file lacks a column: every row of it has the same problem.
    columns: bool = False


def records(suffix: str, text: str) -> Iterator[tuple[int, dict] | Problem]:
    """Each record of a file's text with its line number (CSV's header is line 1), or the problem of that line."""
    if suffix == ".csv":
        yield from _csv_records(text)
    else:
        yield from _jsonl_records(text)


def _csv_records(text: str) -> Iterator[tuple[int, dict] | Problem]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames:
        yield Problem(1, "no header row", "put the column names on the first line")
        return
    for offset, record in enumerate(reader):
        yield offset + 2, record


def _jsonl_records(text: str) -> Iterator[tuple[int, dict] | Problem]:
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as error:
            yield Problem(line, f"not valid JSON ({error.msg})", "write one object per line")
            continue
        if isinstance(record, dict):
            yield line, record
        else:
            yield Problem(line, "not a JSON object", "write one object per line")


def row_problem(line: int, record: dict, text_column: str, label_column: str, *, options: str) -> Problem | None:
    """Why ``record`` cannot be trained on or scored, if it cannot; ``options`` names the caller's column flags."""
    if text_column not in record or label_column not in record:
        return Problem(
            line,
            f"no '{text_column}' or '{label_column}' field (has {sorted(record)})",
            f"rename the columns or pass {options}",
            columns=True,
        )
    if missing(record[text_column]):
        return Problem(line, f"empty text ({record[text_column]!r})", "fill in the text or drop the row")
    if missing(record[label_column]):
        return Problem(line, f"empty label ({record[label_column]!r})", "label the row or drop it")
    return None


def missing(value) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    return str(value).strip().lower() in MISSING
