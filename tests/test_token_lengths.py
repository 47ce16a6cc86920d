"""The training length the data decides (training/token_lengths.py), for train.py and `textclf data validate`."""

from __future__ import annotations

import token_lengths
from conftest import minilm_path
from transformers import AutoTokenizer


def test_the_training_length_cuts_no_training_text_the_window_holds():
    lengths = list(range(1, 101))  # 1..100 tokens
    assert token_lengths.percentile(lengths, 95) == 95 and token_lengths.percentile(lengths, 50) == 50
    assert token_lengths.training_length(lengths, 512) == 100
    assert token_lengths.training_length(lengths, 64) == 64, "capped at the window"
    assert token_lengths.training_length([3, 3, 4], 512) == token_lengths.MIN_LENGTH
    assert token_lengths.cut_share(lengths, 64) == 0.36


def test_the_summary_gives_percentiles_cut_shares_and_the_choice_for_the_models_tokenizer():
    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    counted = token_lengths.counts(tokenizer, ["a great film"] * 1500 + ["word " * 300] * 100)
    assert counted[0] == 5 and counted[-1] == 302 and len(counted) == 1600
    line = token_lengths.summary(counted, token_lengths.window(tokenizer))
    assert line == (
        "tokens p50=5 p90=5 p95=302 p99=302 max=302  cut >64=6.2% >128=6.2% >256=6.2% >512=0.0%  training length 302"
    )
