"""What a valid data file is, for the training jobs (text_data) and for `textclf data validate` alike.

A file is CSV with a header row, or JSON Lines of objects (contract.DATA_SUFFIXES), in UTF-8. A row is usable when
it has both fields, a text that is not empty, and a label that is not empty; spreadsheets and pandas write a missing
value as one of MISSING. The jobs stop at the first problem; validation reports every one. Pure Python: it runs in
the training container and on the operator's machine.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

# Python's csv module refuses a longer field (csv.field_size_limit()'s default); JSON Lines texts are held to it too.
MAX_TEXT_CHARACTERS = 131_072
# Texts a spreadsheet or pandas writes for a missing value.
MISSING = {"", "nan", "none", "null", "n/a", "na"}
# Excel's "CSV UTF-8" and Notepad write it first; read as text, it would be part of the first column's name.
BOM = codecs.BOM_UTF8
# A .csv saved with another separator reads as one column, named e.g. 'text\tlabel'.
SEPARATORS = {"\t": "tabs", ";": "semicolons", "|": "pipes"}


@dataclass(frozen=True)
class Problem:
    """One row that cannot be used: what is wrong and how to fix it."""

    line: int
    problem: str
    fix: str
    # The file lacks a column: every row of it has the same problem.
    columns: bool = False


# A CSV file without a single row, not even the column names.
NO_HEADER = Problem(1, "no header row", "put the column names on the first line")


def records(suffix: str, text: str) -> Iterator[tuple[int, dict] | Problem]:
    """Each record of a file's text with its line number (CSV's header is line 1), or the problem of that line."""
    if suffix == ".csv":
        yield from _csv_records(text)
    else:
        yield from _jsonl_records(text)


def _csv_records(text: str) -> Iterator[tuple[int, dict] | Problem]:
    """Rows by the line they start on: a quoted text may span lines, and blank lines are skipped."""
    # strict: an unterminated quote is an error, not a row that swallows the rest of the file.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    end = 0
    while True:
        start = end + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            yield csv_problem(start, error)
            return
        end = reader.line_num
        if not row:
            continue
        if header is None:
            header = row
            continue
        # As csv.DictReader reads a short row: the missing fields are None.
        yield start, {name: row[i] if i < len(row) else None for i, name in enumerate(header)}
    if header is None:
        yield NO_HEADER


def csv_problem(line: int, error: csv.Error) -> Problem:
    """What is wrong with the CSV from ``line`` on, and how to fix it."""
    return Problem(line, f"not valid CSV from here on ({_csv_reason(error)})", _csv_fix(error))


def _csv_reason(error: csv.Error) -> str:
    return f"a field longer than {MAX_TEXT_CHARACTERS} characters" if "field limit" in str(error) else str(error)


def _csv_fix(error: csv.Error) -> str:
    if "field limit" in str(error):
        return "shorten the text: the model reads only its first max_length tokens"
    return "close the quote that opens here (write a quote inside a text as two quotes)"


def _jsonl_records(text: str) -> Iterator[tuple[int, dict] | Problem]:
    for line, raw in enumerate(text.splitlines(), start=1):
        if raw.strip():
            yield jsonl_record(line, raw)


def jsonl_record(line: int, raw: str) -> tuple[int, dict] | Problem:
    """One line of JSON Lines: its object, or what is wrong with it."""
    try:
        record = json.loads(raw)
    except json.JSONDecodeError as error:
        return Problem(line, f"not valid JSON ({error.msg})", "write one object per line")
    if isinstance(record, dict):
        return line, record
    return Problem(line, "not a JSON object", "write one object per line")


def row_problem(line: int, record: dict, text_column: str, label_column: str, *, options: str) -> Problem | None:
    """Why ``record`` cannot be trained on or scored, if it cannot; ``options`` names the caller's column flags."""
    if text_column not in record or label_column not in record:
        return _columns_problem(line, record, text_column, label_column, options)
    if missing(record[text_column]):
        return Problem(line, f"empty text ({record[text_column]!r})", "fill in the text or drop the row")
    if len(str(record[text_column])) > MAX_TEXT_CHARACTERS:
        # The limit CSV has (Python's csv field limit), held for JSON Lines too: one rule for both formats.
        return Problem(
            line,
            f"text of {len(str(record[text_column]))} characters, over {MAX_TEXT_CHARACTERS}",
            "shorten the text: the model reads only its first max_length tokens",
        )
    if missing(record[label_column]):
        return Problem(line, f"empty label ({record[label_column]!r})", "label the row or drop it")
    return None


def _columns_problem(line: int, record: dict, text_column: str, label_column: str, options: str) -> Problem:
    separator = _separator(record)
    if separator:
        return Problem(
            line,
            f"one column, {next(iter(record))!r}: the fields are separated by {separator}, not commas",
            f"save it comma-separated, with the header {text_column},{label_column}",
            columns=True,
        )
    return Problem(
        line,
        f"no '{text_column}' or '{label_column}' field (has {sorted(record)})",
        f"rename the columns or pass {options}",
        columns=True,
    )


def _separator(record: dict) -> str | None:
    """What separates the fields of a file read as a single column, if another separator does."""
    if len(record) != 1:
        return None
    (name,) = record
    return next((what for character, what in SEPARATORS.items() if character in str(name)), None)


def missing(value) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    return str(value).strip().lower() in MISSING


def label_id(label: str, names: Sequence[str]) -> int | None:
    """The id of ``label`` among the declared ``names`` (--labels): its position, or the label itself where it is an
    integer id in range (SST-2's 0 and 1 with --labels negative,positive); None when it is neither. The one rule for
    `textclf data validate` and train.py."""
    if label in names:
        return list(names).index(label)
    if label.isdigit() and int(label) < len(names):
        return int(label)
    return None


def is_id(label: str, names: Sequence[str] = ()) -> bool:
    """Whether ``label`` is written as an integer id rather than a name: digits that are not one of ``names``."""
    return label.isdigit() and label not in names


def mixed_labels(labels: Sequence[str], names: Sequence[str] = ()) -> tuple[str, str, str] | None:
    """When ``labels`` (each distinct label, in the order first seen) write some classes as integer ids and others as
    names: the label out of place, what is wrong, and the fix; None when they are all ids or all names. Without
    --labels the two cannot be matched (is 'positive' 1, or a third class?); with it, a file that mixes them was
    likely put together from sources whose ids need not follow --labels' order. Either way the file is refused."""
    ids = [label for label in labels if is_id(label, names)]
    words = [label for label in labels if not is_id(label, names)]
    if not ids or not words:
        return None
    # The kind with fewer distinct labels is the stray one; on a tie, the kind seen second.
    if len(words) < len(ids) or (len(words) == len(ids) and labels[0] in ids):
        odd, problem = words[0], f"label {words[0]!r} is a name among integer ids ({', '.join(ids)})"
    else:
        odd, problem = ids[0], f"label {ids[0]!r} is an integer id among names ({', '.join(words)})"
    return odd, f"{problem}: ids and names mixed", "write every label the same way, all as ids or all as names"
