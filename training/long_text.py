"""How a text longer than the model's window is read: one rule for training, evaluation and the endpoint.

  head       the first tokens that fit: what a model without a recorded strategy is served with
  head_tail  a quarter of the window from the text's start, the rest from its end (Sun et al. 2019, "How to
             Fine-Tune BERT for Text Classification?": 128 head + 382 tail tokens was best on IMDB)
  chunks     up to MAX_CHUNKS full windows spread evenly over the text; the answer is the mean of their
             probabilities (the endpoint and evaluation), training reads the first

Training records the strategy in the model's config.json (contract.LONG_TEXT_CONFIG); whoever loads the model
reads it from there with :func:`recorded`. Copied beside the endpoint's code, as contract.py is.
"""

from __future__ import annotations

from typing import NamedTuple

import contract

STRATEGIES = ("head", "head_tail", "chunks")
UNRECORDED = "head"
# Chosen by measurement: docs/benchmarks.md, "Long texts and calibration" (python -m benchmarks robustness).
DEFAULT = "head_tail"
MAX_CHUNKS = 8
HEAD_SHARE = 128 / 510
# A token spans at most a few dozen characters; cutting the string first keeps a 10 MB text cheap.
CHARS_PER_TOKEN_BOUND = 64


class Windows(NamedTuple):
    """What the model reads of one text: one or more windows of token ids, special tokens included."""

    ids: list[list[int]]
    cut: bool  # the text ran past one window (head and head_tail dropped tokens; chunks read it in parts)


def recorded(config) -> str:
    """The strategy a model was trained with, from its config; ValueError naming the fix for one not known."""
    value = getattr(config, contract.LONG_TEXT_CONFIG, None)
    if value is None:
        return UNRECORDED
    if value not in STRATEGIES:
        raise ValueError(
            f"config.json {contract.LONG_TEXT_CONFIG}: unknown long-text strategy {value!r}. Fix: set it to one "
            f"of {', '.join(STRATEGIES)} (train.py --long_text), or remove it to read each text's head."
        )
    return value


def encode(tokenizer, texts: list[str], strategy: str, max_length: int) -> list[Windows]:
    """Each text's windows of at most ``max_length`` tokens, as ``strategy`` reads it."""
    capacity = max_length - tokenizer.num_special_tokens_to_add(pair=False)
    bound = max_length * CHARS_PER_TOKEN_BOUND * (MAX_CHUNKS if strategy == "chunks" else 1)
    kept = [_within(text, bound, keep_tail=strategy != "head") for text in texts]
    # No truncation here: the strategy decides which pieces are kept. verbose=False: a text longer than the
    # model's window is expected, not worth the tokenizer's warning.
    pieces = tokenizer(kept, add_special_tokens=False, verbose=False)["input_ids"]
    return [
        Windows(
            [tokenizer.build_inputs_with_special_tokens(part) for part in split(ids, strategy, capacity)],
            len(ids) > capacity or len(text) > bound,
        )
        for text, ids in zip(texts, pieces, strict=True)
    ]


def split(pieces: list[int], strategy: str, capacity: int) -> list[list[int]]:
    """The parts of ``pieces`` (ids without special tokens) the model reads, each at most ``capacity`` long."""
    if len(pieces) <= capacity:
        return [pieces]
    if capacity <= 0:
        # A request's max_length may leave room for the special tokens alone.
        return [[]]
    if strategy == "head_tail":
        head = max(1, round(capacity * HEAD_SHARE))
        return [pieces[:head] + pieces[len(pieces) - (capacity - head) :]]
    if strategy == "chunks":
        count = min(-(-len(pieces) // capacity), MAX_CHUNKS)
        # Full windows, the first at the start and the last at the end, the others evenly between: no window
        # is a short remainder that would weigh as much as a full one in the mean.
        starts = [round(i * (len(pieces) - capacity) / (count - 1)) for i in range(count)]
        return [pieces[start : start + capacity] for start in starts]
    return [pieces[:capacity]]


def _within(text: str, bound: int, *, keep_tail: bool) -> str:
    if len(text) <= bound:
        return text
    return text[: bound // 2] + " " + text[-(bound // 2) :] if keep_tail else text[:bound]
