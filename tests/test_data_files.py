"""What a valid data file is (training/data_files.py), for the jobs and `textclf data validate` alike."""

from __future__ import annotations

import data_files
import pytest


@pytest.mark.parametrize(
    ("labels", "names", "odd"),
    [
        (["0", "1", "positive"], [], "positive"),
        (["negative", "positive", "1"], [], "1"),
        (["0", "positive"], ["negative", "positive"], "positive"),
        (["positive", "0"], ["negative", "positive"], "0"),
        (["0", "1"], [], None),
        (["0", "1"], ["0", "1"], None),
        (["0", "positive"], ["0", "positive"], None),
    ],
)
def test_mixed_labels_names_the_stray_kind(labels, names, odd):
    """Digits that are themselves declared names are names; on a tie, the kind seen second is out of place."""
    mixed = data_files.mixed_labels(labels, names)
    assert (mixed and mixed[0]) == odd


def test_a_row_read_as_one_column_names_its_separator():
    problem = data_files.row_problem(2, {"text;label": "fine;positive"}, "text", "label", options="--x")
    assert problem and problem.columns and "separated by semicolons" in problem.problem
    problem = data_files.row_problem(2, {"sentence": "fine", "label": "1"}, "text", "label", options="--x")
    assert problem and "no 'text' or 'label' field" in problem.problem
