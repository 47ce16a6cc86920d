"""How a text longer than the window is read (training/long_text.py): the same windows for training, evaluation and
the endpoint, each within the window, and a strategy the code does not know refused with its fix."""

from __future__ import annotations

import long_text
import pytest
from conftest import minilm_path
from hypothesis import given
from hypothesis import strategies as st
from transformers import AutoTokenizer, BertConfig

TOKENIZER = AutoTokenizer.from_pretrained(minilm_path())


@given(length=st.integers(0, 5000), capacity=st.integers(1, 600), strategy=st.sampled_from(long_text.STRATEGIES))
def test_every_window_fits_and_a_text_that_fits_is_read_whole(length, capacity, strategy):
    pieces = list(range(length))
    windows = long_text.split(pieces, strategy, capacity)
    assert all(len(window) <= capacity for window in windows)
    if length <= capacity:
        assert windows == [pieces]
    elif strategy == "chunks":
        assert len(windows) == min(-(-length // capacity), long_text.MAX_CHUNKS)
        assert all(len(window) == capacity for window in windows), "no short remainder weighs as a full window"
        assert windows[0][0] == 0 and windows[-1][-1] == length - 1, "the first starts the text, the last ends it"
        if len(windows) < long_text.MAX_CHUNKS:
            assert set().union(*windows) == set(pieces), "under the cap every token is read"
    else:
        (window,) = windows
        assert len(window) == capacity
        assert window[0] == 0
        ends = strategy == "head_tail" and capacity > 1
        assert (window[-1] == length - 1) == ends, "only head_tail keeps the text's end (room allowing)"


def test_head_tail_keeps_a_quarter_of_the_window_from_the_start_and_the_rest_from_the_end():
    (window,) = long_text.split(list(range(1000)), "head_tail", 510)
    assert window[:128] == list(range(128)) and window[128:] == list(range(1000 - 382, 1000))


@pytest.mark.parametrize("strategy", long_text.STRATEGIES)
def test_windows_carry_the_special_tokens_and_say_when_the_text_ran_past_one(strategy):
    verdict = "the plot drags on and on. " * 60 + "but the ending makes it all worth it, a great film"
    short, long = long_text.encode(TOKENIZER, ["a great film", verdict], strategy, 64)
    assert short.ids == [TOKENIZER("a great film")["input_ids"]] and not short.cut
    assert long.cut and all(len(ids) <= 64 for ids in long.ids)
    assert all(ids[0] == TOKENIZER.cls_token_id and ids[-1] == TOKENIZER.sep_token_id for ids in long.ids)
    last = TOKENIZER.decode(long.ids[-1][1:-1])
    assert last.endswith("a great film") == (strategy != "head"), "head alone never sees the verdict at the end"


@pytest.mark.parametrize("strategy", long_text.STRATEGIES)
def test_a_window_with_room_for_the_special_tokens_alone_reads_none_of_the_text(strategy):
    """A request may send parameters.max_length 2 (payloads allows it): [CLS] [SEP], not a division by zero."""
    (read,) = long_text.encode(TOKENIZER, ["a great film"], strategy, 2)
    assert read.ids == [[TOKENIZER.cls_token_id, TOKENIZER.sep_token_id]] and read.cut


def test_a_ten_megabyte_text_is_cut_to_characters_before_the_tokenizer_sees_it():
    (read,) = long_text.encode(TOKENIZER, ["word " * 2_000_000], "chunks", 64)
    assert read.cut and len(read.ids) == long_text.MAX_CHUNKS


def test_the_strategy_comes_from_the_models_config_and_an_unknown_one_names_the_fix():
    assert long_text.recorded(BertConfig()) == long_text.UNRECORDED == "head", "a model from before reads its head"
    assert long_text.recorded(BertConfig(textclf_long_text="chunks")) == "chunks"
    with pytest.raises(ValueError, match=r"unknown long-text strategy 'tail'\. Fix: set it to one of head, head_tail"):
        long_text.recorded(BertConfig(textclf_long_text="tail"))
