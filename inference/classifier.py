"""The model behind the endpoint: length-bucketed batches, no padding waste, optional int8 on CPU."""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from payloads import Request

logger = logging.getLogger(__name__)

# A token spans at most a few dozen characters; cutting the string first keeps a 10 MB text cheap.
CHARS_PER_TOKEN_BOUND = 64
# Padded tokens per forward pass: large enough to amortize overhead, small enough for 1 GB of memory.
TOKENS_PER_BATCH = int(os.environ.get("TEXTCLF_TOKENS_PER_BATCH", "4096"))
QUANTIZE_ENV = "TEXTCLF_QUANTIZE"
# Written by training at export: int8 accuracy against fp32 on the validation channel.
QUANTIZATION_REPORT = "quantization.json"
INT8_MAX_ACCURACY_DROP = 0.005


class TextClassifier:
    def __init__(self, model, tokenizer, *, quantized: bool = False) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.quantized = quantized
        self.labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        self.max_length = _position_limit(model, tokenizer)

    @classmethod
    def load(cls, model_dir: str | Path, *, quantize: str | None = None) -> "TextClassifier":
        quantize = (quantize if quantize is not None else os.environ.get(QUANTIZE_ENV, "")).strip().lower()
        if quantize not in ("", "none", "int8"):
            raise ValueError(f"{QUANTIZE_ENV}: unknown value {quantize!r}. Fix: use int8 or leave it unset.")
        torch.set_num_threads(threads_per_worker())
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
        use_int8 = quantize == "int8" and int8_allowed(model_dir)
        if use_int8:
            model = quantize_int8(model)
        return cls(model, tokenizer, quantized=use_int8)

    def predict(self, request: Request) -> list:
        max_length = min(request.max_length or self.max_length, self.max_length)
        texts = [text[: max_length * CHARS_PER_TOKEN_BOUND] for text in request.texts]
        encoded = self.tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
        probabilities = torch.empty(len(texts), len(self.labels))
        with torch.inference_mode():
            for indices in length_buckets([len(ids) for ids in encoded], self._tokens_per_batch()):
                logits = self.model(**self._pad([encoded[i] for i in indices])).logits.float()
                probabilities[indices] = logits.softmax(dim=-1)
        return [self._rank(row, request) for row in probabilities]

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
        return [{"label": self.labels[int(i)], "score": float(s)} for s, i in zip(scores, order)]


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


def threads_per_worker() -> int:
    """Split the CPUs between the model server's workers instead of oversubscribing them."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    configured = os.environ.get("TEXTCLF_THREADS")
    if configured:
        return max(1, int(configured))
    workers = int(os.environ.get("SAGEMAKER_MODEL_SERVER_WORKERS") or cpus)
    return max(1, cpus // max(1, workers))


def _position_limit(model, tokenizer) -> int:
    positions = getattr(model.config, "max_position_embeddings", None) or 512
    declared = tokenizer.model_max_length if tokenizer.model_max_length < 100_000 else positions
    return min(positions, declared)


def int8_allowed(model_dir: str | Path) -> bool:
    """int8 is kept only if training measured it within 0.5 accuracy points of fp32."""
    report_path = Path(model_dir) / QUANTIZATION_REPORT
    if not report_path.exists():
        logger.warning("%s=int8 without %s: serving int8 unverified against fp32", QUANTIZE_ENV, QUANTIZATION_REPORT)
        return True
    report = json.loads(report_path.read_text())
    drop = report["fp32_accuracy"] - report["int8_accuracy"]
    if drop > INT8_MAX_ACCURACY_DROP:
        logger.warning("int8 loses %.2f accuracy points on validation (limit %.1f): serving fp32",
                       drop * 100, INT8_MAX_ACCURACY_DROP * 100)
        return False
    return True


def quantize_int8(model):
    # torch.ao's eager dynamic quantization still ships in the inference DLC's torch 2.6;
    # newer torch only warns that it moves to torchao.
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    # Per-channel scales keep SST-2 dev accuracy within 0.1 point of fp32 where one scale per
    # tensor lost 0.8 (docs/benchmarks.md).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)
