"""The channel index train.py reads from: the same examples, labels and errors as reading the files whole
(text_data.read_examples, which `textclf data validate` and evaluation share), without holding the texts."""

from __future__ import annotations

import json

import pytest
import text_data
from conftest import SAMPLE_DATA, minilm_path
from modeling import load_tokenizer
from text_data import DataError
from text_index import TextIndex

# Quoted commas, a text over three lines, doubled quotes, blank lines between rows and a file without a final newline.
CSV = 'text,label\n"good, really",positive\n\n"one\nover ""three""\nlines",negative\nplain,positive'
# A raw U+2028 inside a JSON string is valid JSON, and one line of the file (str.splitlines would split it).
ROWS = ({"text": "bad", "label": "negative"}, {"text": "a\u2028b", "label": "0"})
JSONL = "\n\n".join(json.dumps(row, ensure_ascii=False) for row in ROWS) + "\n"


def _write(folder, name, text):
    (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_the_index_reads_back_every_example_that_reading_whole_files_finds(tmp_path):
    _write(tmp_path, "a.csv", CSV)
    _write(tmp_path, "b.jsonl", json.dumps({"text": "bad", "label": "negative"}) + "\n\n")
    whole = text_data.read_examples(tmp_path, "text", "label")
    index = TextIndex(tmp_path, "text", "label")
    assert [index.text(i) for i in reversed(range(len(index)))] == [e.text for e in reversed(whole)]
    assert [e.source for e in index.label_examples()] == ["a.csv:2", "a.csv:4"]
    names = text_data.label_names(index.label_examples())
    assert index.labels(names) == text_data.encode_labels(whole, names)


def test_a_json_line_with_a_unicode_line_separator_is_one_record(tmp_path):
    index = TextIndex(_write(tmp_path, "a.jsonl", JSONL), "text", "label")
    assert [index.text(i) for i in range(len(index))] == ["bad", "a\u2028b"]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("a.csv", 'text,label\nok,1\n"never closed,0\n', r"a.csv:3: not valid CSV from here on.*Fix: close the quote"),
        ("a.csv", "sentence,label\nhello,1\n", r"a.csv:2: no 'text' or 'label' field.*--text_column"),
        ("a.csv", "text,label\n,1\n", r"a.csv:2: empty text"),
        ("a.jsonl", '{"text": "ok", "label": 1}\n{oops\n', r"a.jsonl:2: not valid JSON"),
        ("a.jsonl", '{"text": "ok", "label": 1}\n[1]\n', r"a.jsonl:2: not a JSON object"),
    ],
)
def test_a_bad_row_fails_the_index_as_it_fails_reading_whole_files(tmp_path, name, text, message):
    _write(tmp_path, name, text)
    with pytest.raises(DataError, match=message):
        text_data.read_examples(tmp_path, "text", "label")
    with pytest.raises(DataError, match=message):
        TextIndex(tmp_path, "text", "label")


def test_an_empty_channel_says_what_to_upload(tmp_path):
    with pytest.raises(DataError, match="no .csv, .jsonl, .json files"):
        TextIndex(tmp_path, "text", "label")


def test_tokens_read_on_demand_equal_the_tokens_of_the_whole_sample():
    """Read head-first, the streamed tokens are the tokenizer's own truncation of the texts held in memory."""
    tokenizer = load_tokenizer(str(minilm_path()))
    folder = SAMPLE_DATA / "validation"
    whole = text_data.read_examples(folder, "text", "label")
    names = text_data.label_names(whole, ["negative", "positive"])
    held = text_data.encode(tokenizer, whole, text_data.encode_labels(whole, names), 64)
    index = TextIndex(folder, "text", "label")
    streamed = index.encoded(tokenizer, names, 64, "head")
    assert len(streamed) == len(held) == 500
    assert list(streamed.lengths) == list(held.lengths)
    assert list(streamed.labels) == list(held.labels)
    assert [streamed.input_ids[i] for i in range(0, 500, 7)] == [held.input_ids[i] for i in range(0, 500, 7)]


def test_a_byte_order_mark_is_skipped_as_reading_whole_files_skips_it(tmp_path):
    (tmp_path / "a.csv").write_bytes(b"\xef\xbb\xbf" + CSV.encode())
    (tmp_path / "b.jsonl").write_bytes(b"\xef\xbb\xbf" + json.dumps(ROWS[0]).encode() + b"\n")
    whole = text_data.read_examples(tmp_path, "text", "label")
    index = TextIndex(tmp_path, "text", "label")
    assert [index.text(i) for i in range(len(index))] == [e.text for e in whole]
    assert [e.source for e in index.label_examples()][:1] == ["a.csv:2"]
