"""How long a dataset's texts are in tokens, and the training length that follows from it.

train.py's ``--max_length 0`` and `textclf data validate` read the same figures from here: the training length is
the longest training text, capped at the model's window, so training cuts no text the window could hold. A
shorter length (the 95th percentile, say) saves little, as batches are grouped by length, and costs much: trained
on SST-2 at its 95th percentile (33 tokens, not 66), the student lost 1 point on SST-2 test and 6 on long reviews
(docs/benchmarks.md, "Long texts and calibration").
Pure Python beside the tokenizer it is given: it runs in the training container and on the operator's machine.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

SHOWN_PERCENTILES = (50, 90, 95, 99)
# Lengths a user might pick: the report says what share of texts each would cut.
SHOWN_LIMITS = (64, 128, 256, 512)
MIN_LENGTH = 8
BATCH = 1000
# Tokenizers that declare no window report a huge model_max_length; BERT-family position tables hold 512.
DEFAULT_WINDOW = 512


def counts(tokenizer, texts: Iterable[str]) -> list[int]:
    """Each text's length in tokens, special tokens included, uncut."""
    lengths: list[int] = []
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) == BATCH:
            lengths += _lengths(tokenizer, batch)
            batch = []
    return lengths + (_lengths(tokenizer, batch) if batch else [])


def window(tokenizer) -> int:
    declared = tokenizer.model_max_length
    return declared if declared < 100_000 else DEFAULT_WINDOW


def percentile(lengths: Sequence[int], q: int) -> int:
    """The nearest-rank percentile: the smallest length at least ``q`` percent of the texts fit in."""
    ordered = sorted(lengths)
    return ordered[max(0, -(-len(ordered) * q // 100) - 1)] if ordered else 0


def training_length(lengths: Sequence[int], limit: int) -> int:
    """What training reads of each text: the longest text's length, within MIN_LENGTH..``limit``."""
    return max(MIN_LENGTH, min(limit, max(lengths, default=MIN_LENGTH)))


def cut_share(lengths: Sequence[int], limit: int) -> float:
    """The share of texts a ``limit``-token window would cut."""
    return sum(length > limit for length in lengths) / len(lengths) if lengths else 0.0


def summary(lengths: Sequence[int], limit: int) -> str:
    """One line for the data report: percentiles, the share each common length cuts, the length training takes."""
    shown = " ".join(f"p{q}={percentile(lengths, q)}" for q in SHOWN_PERCENTILES)
    cuts = " ".join(f">{n}={cut_share(lengths, n):.1%}" for n in SHOWN_LIMITS if n <= limit)
    chosen = training_length(lengths, limit)
    return f"tokens {shown} max={max(lengths, default=0)}  cut {cuts}  training length {chosen}"


def _lengths(tokenizer, texts: list[str]) -> list[int]:
    return [len(ids) for ids in tokenizer(texts, verbose=False)["input_ids"]]
