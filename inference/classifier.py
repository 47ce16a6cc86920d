"""The model behind the endpoint: length-bucketed batches, no padding waste, optional int8 on CPU.

A pass over one text runs a TorchScript graph traced at load, which skips the Python of the model's
modules on every request; passes over several padded texts run the model eagerly.
"""

from __future__ import annotations

import functools
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import long_text
import torch
from contract import INT8_VERIFIED_ENV, QUANTIZE_ENV, TEMPERATURE_CONFIG, THREADS_ENV, TOKENS_PER_BATCH_ENV
from payloads import Request
from transformers import AutoModelForSequenceClassification, AutoTokenizer

logger = logging.getLogger(__name__)

# Padded tokens per forward pass: large enough to amortize overhead, small enough for 1 GB of memory.
TOKENS_PER_BATCH = int(os.environ.get(TOKENS_PER_BATCH_ENV, "4096"))
# The evaluation step's verdict on int8 (INT8_VERIFIED_ENV, true or false) is set on the registered
# package's container: it scored this model both ways on the test channel, exactly as this class serves it.
INT8_MAX_ACCURACY_DROP = 0.005
# On the evaluation's optional shift channel (contract.SHIFT), int8 must also answer as fp32 does this often.
INT8_MIN_AGREEMENT = 0.99


class Signal(NamedTuple):
    """What monitoring learns of one answered text: never the text itself (contract.signal_line)."""

    predicted: int  # the best class's index
    score: float  # its probability
    tokens: int  # tokens of the longest window the model read, special tokens included
    truncated: bool  # the text ran past one window (long_text.Windows.cut)


class TextClassifier:
    def __init__(self, model, tokenizer, *, quantized: bool = False) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.quantized = quantized
        self.labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        self.max_length = _position_limit(model, tokenizer)
        # Both recorded by training in config.json; a model without them is read head-first and uncalibrated.
        self.long_text = long_text.recorded(model.config)
        self.temperature = _temperature(model.config)
        self.one_text = trace_one_text(model)

    @classmethod
    def load(cls, model_dir: str | Path, *, quantize: str | None = None) -> TextClassifier:
        """``quantize`` given by the caller is applied as is (evaluation scores both ways); unset, the
        endpoint reads TEXTCLF_QUANTIZE and serves int8 only where evaluation verified it."""
        use_int8 = _requested(quantize) == "int8" if quantize is not None else serve_int8()
        torch.set_num_threads(threads_per_worker())
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
        if use_int8:
            model = quantize_int8(model)
        return cls(model, tokenizer, quantized=use_int8)

    def predict(self, request: Request) -> list:
        return [self._rank(row, request) for row in self.forward(request).served]

    def predict_with_signals(self, request: Request) -> tuple[list, list[Signal]]:
        """The answers, and one Signal per text: the handler logs these, evaluation builds its baseline from them."""
        done = self.forward(request)
        return [self._rank(row, request) for row in done.served], done.signals()

    def forward(self, request: Request) -> Forward:
        """One pass over the request's texts, each read as the model's long-text strategy says."""
        max_length = min(request.max_length or self.max_length, self.max_length)
        read = long_text.encode(self.tokenizer, request.texts, self.long_text, max_length)
        sequences = [ids for windows in read for ids in windows.ids]
        logits = torch.empty(len(sequences), len(self.labels))
        with torch.inference_mode():
            for indices in length_buckets([len(ids) for ids in sequences], self._tokens_per_batch()):
                logits[indices] = self._logits([sequences[i] for i in indices]).float()
        return Forward(logits, read, self.temperature)

    def _logits(self, sequences: list[list[int]]) -> torch.Tensor:
        if len(sequences) == 1:
            return self.one_text(torch.tensor(sequences))
        return self.model(**self._pad(sequences)).logits

    def _tokens_per_batch(self) -> int:
        # Dynamic int8 scales activations by each batch's range, so a text's answer would depend on
        # its neighbours (SST-2 dev: 88.65-90.02% across batch sizes). One text per pass keeps it
        # deterministic; int8 is fast enough unbatched.
        return 1 if self.quantized else TOKENS_PER_BATCH

    def _pad(self, sequences: list[list[int]]) -> dict[str, torch.Tensor]:
        width = max(len(ids) for ids in sequences)
        input_ids = torch.full((len(sequences), width), self.tokenizer.pad_token_id or 0, dtype=torch.long)
        attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, ids in enumerate(sequences):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            attention_mask[row, : len(ids)] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    def _rank(self, row: torch.Tensor, request: Request):
        if not request.top_k_set:
            best = int(row.argmax())
            return {"label": self.labels[best], "score": float(row[best])}
        count = len(self.labels) if request.top_k is None else min(request.top_k, len(self.labels))
        scores, order = row.topk(count)
        return [{"label": self.labels[int(i)], "score": float(s)} for s, i in zip(scores, order, strict=True)]


@dataclass(frozen=True)
class Forward:
    """One pass over a request's texts: every window's logits, and what answers and signals are made from."""

    window_logits: torch.Tensor  # one row per window, the texts' windows in order
    read: list[long_text.Windows]
    temperature: float

    @functools.cached_property
    def served(self) -> torch.Tensor:
        """Each text's class probabilities as the endpoint answers them: with the model's own temperature. Computed
        once, for the answers and the signals alike."""
        return self.probabilities(self.temperature)

    def probabilities(self, temperature: float) -> torch.Tensor:
        """Each text's class probabilities: the mean over its windows of softmax(logits / temperature) (evaluation
        compares the model's temperature with 1.0, uncalibrated)."""
        scaled = (self.window_logits / temperature).softmax(dim=-1)
        owners = torch.tensor([text for text, windows in enumerate(self.read) for _ in windows.ids], dtype=torch.long)
        totals = torch.zeros(len(self.read), scaled.shape[-1]).index_add_(0, owners, scaled)
        return totals / torch.tensor([len(windows.ids) for windows in self.read]).unsqueeze(-1)

    def signals(self) -> list[Signal]:
        scores, best = self.served.max(dim=-1)
        return [
            Signal(predicted, score, max(map(len, windows.ids)), windows.cut)
            for predicted, score, windows in zip(best.tolist(), scores.tolist(), self.read, strict=True)
        ]


def length_buckets(lengths: list[int], tokens_per_batch: int) -> list[list[int]]:
    """Indices grouped by similar length so each batch pads little; a pure function of the lengths."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    buckets: list[list[int]] = []
    current: list[int] = []
    for index in order:
        # Sorted ascending, so this text is the longest yet: it sets the padded width.
        if current and (len(current) + 1) * lengths[index] > tokens_per_batch:
            buckets.append(current)
            current = []
        current.append(index)
    if current:
        buckets.append(current)
    return buckets


class _Logits(torch.nn.Module):
    """input_ids of one unpadded text -> logits: nothing to mask, so one tensor in, one out."""

    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids).logits


# Lengths the traced graph must answer exactly as the eager model, or the eager model serves alone: a
# trace records one run, and a model whose code branches on the length would be wrong at the others.
TRACE_CHECK_LENGTHS = (3, 17, 64)


def trace_one_text(model):
    """The model's forward pass for one text as a frozen TorchScript graph, or the eager model where it
    does not trace exactly. The graph halves an int8 MiniLM's forward pass (docs/benchmarks.md)."""
    eager = _Logits(model).eval()
    vocabulary = model.get_input_embeddings().num_embeddings
    positions = getattr(model.config, "max_position_embeddings", None) or 512
    lengths = sorted({min(n, positions) for n in TRACE_CHECK_LENGTHS})
    # Ids from 3 up: no special token (pad, bos, eos sit below 3 in BERT and RoBERTa vocabularies).
    checks = [torch.arange(n).remainder(vocabulary - 3).add(3).unsqueeze(0) for n in lengths]
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # The tracer warns about every Python branch it records; the checks below are the verdict.
            warnings.simplefilter("ignore")
            graph = torch.jit.freeze(torch.jit.trace(eager, checks[len(checks) // 2], check_trace=False))
            exact = all(torch.allclose(graph(ids), eager(ids), atol=1e-5) for ids in checks)
    except Exception as error:  # noqa: BLE001 - any model we cannot trace is still served, eagerly
        logger.warning("serving %s eagerly: it cannot be traced (%s)", type(model).__name__, error)
        return eager
    if not exact:
        logger.warning("serving %s eagerly: its traced graph differs at other text lengths", type(model).__name__)
        return eager
    return graph


def threads_per_worker(workers: int | None = None) -> int:
    """Split the CPUs between the model server's workers (``workers``, else the server's setting) instead of
    oversubscribing them; the project's own setting, where given, wins."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    # Not OMP_NUM_THREADS: multi-model-server sets it to 1 in every worker that starts without it.
    configured = os.environ.get(THREADS_ENV)
    if configured:
        return max(1, int(configured))
    workers = workers or int(os.environ.get("SAGEMAKER_MODEL_SERVER_WORKERS") or cpus)
    return max(1, cpus // max(1, workers))


def _temperature(config) -> float:
    value = getattr(config, TEMPERATURE_CONFIG, None)
    if value is None:
        return 1.0
    if not isinstance(value, (int, float)) or not 0.05 <= value <= 20.0:
        raise ValueError(
            f"config.json {TEMPERATURE_CONFIG}: {value!r} is not a temperature within 0.05..20. Fix: retrain to fit "
            "it again, or remove it to serve uncalibrated scores."
        )
    return float(value)


def _position_limit(model, tokenizer) -> int:
    positions = getattr(model.config, "max_position_embeddings", None) or 512
    declared = tokenizer.model_max_length if tokenizer.model_max_length < 100_000 else positions
    return min(positions, declared)


def _requested(value: str) -> str:
    value = value.strip().lower()
    if value not in ("", "none", "int8"):
        raise ValueError(f"{QUANTIZE_ENV}: unknown value {value!r}. Fix: use int8 or leave it unset.")
    return value


def serve_int8() -> bool:
    """int8 when the stage asks for it and evaluation did not measure it beyond the limit."""
    if _requested(os.environ.get(QUANTIZE_ENV, "")) != "int8":
        return False
    verdict = os.environ.get(INT8_VERIFIED_ENV, "").strip().lower()
    if verdict == "false":
        logger.warning(
            "%s=int8, but evaluation measured int8 more than %.1f accuracy points below fp32 on the "
            "test channel, or agreeing with it on fewer than %.0f%% of the shift channel (%s=false): serving fp32",
            QUANTIZE_ENV,
            INT8_MAX_ACCURACY_DROP * 100,
            INT8_MIN_AGREEMENT * 100,
            INT8_VERIFIED_ENV,
        )
        return False
    if verdict != "true":
        logger.warning(
            "%s=int8 without %s: serving int8 that no evaluation verified against fp32", QUANTIZE_ENV, INT8_VERIFIED_ENV
        )
    return True


def int8_verified(fp32_accuracy: float, int8_accuracy: float, agreement: float | None = None) -> bool:
    """The evaluation step's rule: int8 may be served if it loses at most 0.5 accuracy points on the test channel
    and, where a shift channel was given, answers as fp32 does on at least 99% of it."""
    # Rounded: accuracies are ratios of counts, and 0.900 - 0.895 must not fail by a float's last bit.
    close = round(fp32_accuracy - int8_accuracy, 9) <= INT8_MAX_ACCURACY_DROP
    return close and (agreement is None or round(agreement, 9) >= INT8_MIN_AGREEMENT)


def quantize_int8(model):
    # torch.ao's eager dynamic quantization still ships in the inference DLC's torch 2.6;
    # newer torch only warns that it moves to torchao.
    from torch.ao.quantization import quantize_dynamic
    from torch.ao.quantization.qconfig import per_channel_dynamic_qconfig

    # Per-channel scales keep SST-2 dev accuracy within 0.1 point of fp32 where one scale per
    # tensor lost 0.8 (docs/benchmarks.md).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)
