"""Reading channels, label maps, and the deterministic length-grouped batch order."""

from __future__ import annotations

import json

import pytest
import text_data
import torch
from text_data import DataError


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path.parent


def test_reads_csv_and_jsonl_from_one_channel(tmp_path):
    _write(tmp_path / "a.csv", 'text,label\n"good, really",positive\n')
    _write(tmp_path / "b.jsonl", json.dumps({"text": "bad", "label": "negative"}) + "\n\n")
    examples = text_data.read_examples(tmp_path, "text", "label")
    assert [(e.text, e.label) for e in examples] == [("good, really", "positive"), ("bad", "negative")]


def test_empty_channel_says_what_to_upload(tmp_path):
    with pytest.raises(DataError, match="no .csv, .jsonl, .json files"):
        text_data.read_examples(tmp_path, "text", "label")


def test_missing_column_names_the_file_and_line(tmp_path):
    _write(tmp_path / "a.csv", "sentence,label\nhello,1\n")
    with pytest.raises(DataError, match=r"a.csv:2: no 'text' or 'label' field.*--text_column"):
        text_data.read_examples(tmp_path, "text", "label")


def test_bad_json_line_is_located(tmp_path):
    _write(tmp_path / "a.jsonl", '{"text": "ok", "label": 1}\n{oops\n')
    with pytest.raises(DataError, match=r"a.jsonl:2: not valid JSON"):
        text_data.read_examples(tmp_path, "text", "label")


def _examples(*labels):
    return [text_data.Example(text=f"t{i}", label=label, source=f"f.csv:{i + 2}") for i, label in enumerate(labels)]


def test_label_names_integer_ids_in_order():
    assert text_data.label_names(_examples("1", "0", "2")) == ["0", "1", "2"]


def test_label_names_sorted_names():
    assert text_data.label_names(_examples("sports", "world")) == ["sports", "world"]


def test_declared_names_accept_names_or_ids():
    for examples in (_examples("1", "0"), _examples("positive", "negative")):
        names = text_data.label_names(examples, ["negative", "positive"])
        assert names == ["negative", "positive"]
        assert text_data.encode_labels(examples, names) == [1, 0]


@pytest.mark.parametrize("declared", [[], ["negative", "positive"]], ids=["no --labels", "--labels"])
def test_labels_mixing_ids_and_names_stop_the_job_at_the_stray_row(declared):
    """As `textclf data validate` refuses them: without --labels 'positive' would be a third class."""
    message = r"f.csv:4: label 'positive' is a name among integer ids \(0, 1\): ids and names mixed\. Fix: write"
    with pytest.raises(DataError, match=message):
        text_data.label_names(_examples("0", "1", "positive", "1"), declared)


def test_undeclared_label_is_located():
    with pytest.raises(DataError, match=r"f.csv:3: label 'neutral' is neither a name nor an id"):
        text_data.label_names(_examples("negative", "neutral"), ["negative", "positive"])


def test_epoch_batches_are_a_pure_function_of_seed_and_epoch():
    lengths = [i % 17 + 1 for i in range(1000)]
    first = text_data.epoch_batches(lengths, 32, seed=7, epoch=3, group_by_length=True)
    assert first == text_data.epoch_batches(lengths, 32, seed=7, epoch=3, group_by_length=True)
    assert first != text_data.epoch_batches(lengths, 32, seed=7, epoch=4, group_by_length=True)


def test_epoch_batches_cover_each_example_at_most_once():
    lengths = [i % 17 + 1 for i in range(1000)]
    batches = text_data.epoch_batches(lengths, 32, seed=1, epoch=0, group_by_length=True)
    flat = [i for b in batches for i in b]
    assert len(flat) == len(set(flat)) == 1000 // 32 * 32
    assert all(len(b) == 32 for b in batches)


def test_length_grouping_cuts_padding():
    generator = torch.Generator().manual_seed(0)
    lengths = torch.randint(3, 60, (4000,), generator=generator).tolist()

    def padded_tokens(group):
        batches = text_data.epoch_batches(lengths, 32, seed=0, epoch=0, group_by_length=group)
        return sum(len(b) * max(lengths[i] for i in b) for b in batches)

    assert padded_tokens(True) < 0.7 * padded_tokens(False)


def test_collate_pads_only_to_the_longest_in_the_batch():
    rows = [[101, 5, 102], [101, 102], [101, 1, 2, 3, 4, 102]]
    dataset = text_data.EncodedDataset(input_ids=rows, labels=[0, 1, 1], lengths=[len(row) for row in rows])
    batch = text_data.collate(dataset, [0, 1], pad_id=0)
    assert batch["input_ids"].tolist() == [[101, 5, 102], [101, 102, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["labels"].tolist() == [0, 1]
    assert batch["index"].tolist() == [0, 1]


def test_the_uploaded_dataset_version_is_read_from_the_train_split_and_is_no_data(tmp_path):
    """`textclf data upload` writes DATASET_VERSION beside train.csv; train.py records it, and it is never a row."""
    (tmp_path / "train.csv").write_text("text,label\nfine,positive\n")
    assert text_data.dataset_version(tmp_path) is None
    (tmp_path / "DATASET_VERSION").write_text("20261124T075200Z-0123456789ab\n")
    assert text_data.dataset_version(tmp_path) == "20261124T075200Z-0123456789ab"
    assert [e.text for e in text_data.read_examples(tmp_path, "text", "label")] == ["fine"]


def test_training_refuses_what_data_validate_refuses(tmp_path):
    """One rule for a usable row (training/data_files.py): an empty label, or a text pandas wrote for a missing
    value, stops the job where `textclf data validate` reports it."""
    _write(tmp_path / "a.csv", "text,label\nfine,1\nnan,0\n")
    with pytest.raises(DataError, match=r"a.csv:3: empty text \('nan'\)\. Fix: fill in the text or drop the row"):
        text_data.read_examples(tmp_path, "text", "label")
    _write(tmp_path / "a.csv", "text,label\nfine,\n")
    with pytest.raises(DataError, match=r"a.csv:2: empty label"):
        text_data.read_examples(tmp_path, "text", "label")


def test_a_byte_order_mark_is_no_part_of_the_first_column(tmp_path):
    """Excel's "CSV UTF-8": training and evaluation read it as `textclf data validate` does."""
    (tmp_path / "a.csv").write_bytes(b"\xef\xbb\xbftext,label\nfine,positive\n")
    assert [(e.text, e.label) for e in text_data.read_examples(tmp_path, "text", "label")] == [("fine", "positive")]


def test_a_csv_separated_by_tabs_names_the_separator(tmp_path):
    _write(tmp_path / "a.csv", "text\tlabel\nfine\tpositive\n")
    message = r"a.csv:2: one column, 'text\\tlabel': the fields are separated by tabs, not commas\. Fix: save it "
    with pytest.raises(DataError, match=message + r"comma-separated, with the header text,label\."):
        text_data.read_examples(tmp_path, "text", "label")
