"""The serving model: length buckets, padding that never changes an answer, truncation, top-k, int8, the traced
one-text graph."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import classifier
import contract
import long_text
import pytest
import torch
from classifier import TextClassifier, length_buckets, threads_per_worker, trace_one_text
from hypothesis import given
from hypothesis import strategies as st
from payloads import Request
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    DistilBertConfig,
    DistilBertForSequenceClassification,
)
from transformers.modeling_outputs import SequenceClassifierOutput


@pytest.fixture(scope="module")
def model(served_model_dir):
    return TextClassifier.load(served_model_dir, quantize="")


@given(lengths=st.lists(st.integers(1, 300), max_size=80), budget=st.integers(1, 2048))
def test_length_buckets_cover_every_text_once_within_the_token_budget(lengths, budget):
    buckets = length_buckets(lengths, budget)
    assert sorted(i for bucket in buckets for i in bucket) == list(range(len(lengths)))
    for bucket in buckets:
        widest = max(lengths[i] for i in bucket)
        # A single text longer than the budget still gets its own batch.
        assert len(bucket) == 1 or len(bucket) * widest <= budget


def test_batched_answers_equal_one_text_at_a_time(model, monkeypatch):
    texts = [
        "a wonderful, moving film",
        "dull",
        "it is neither good nor bad, just long and slow and tiresome",
        "bad",
        "one of the best movies of the year, with a superb cast",
    ]
    monkeypatch.setattr(classifier, "TOKENS_PER_BATCH", 40)
    batched = model.predict(Request(texts=texts, top_k=None, top_k_set=True))
    alone = [model.predict(Request(texts=[text], top_k=None, top_k_set=True))[0] for text in texts]
    for together, single in zip(batched, alone, strict=True):
        assert [r["label"] for r in together] == [r["label"] for r in single]
        assert [r["score"] for r in together] == pytest.approx([r["score"] for r in single], abs=1e-5)


def test_labels_come_from_the_model_and_scores_are_probabilities(model):
    best = model.predict(Request(texts=["fine"]))[0]
    ranked = model.predict(Request(texts=["fine"], top_k=None, top_k_set=True))[0]
    assert set(best) == {"label", "score"} and best["label"] in ("negative", "positive")
    assert [r["label"] for r in ranked][0] == best["label"]
    assert sum(r["score"] for r in ranked) == pytest.approx(1.0, abs=1e-5)
    assert len(model.predict(Request(texts=["fine"], top_k=1, top_k_set=True))[0]) == 1
    assert len(model.predict(Request(texts=["fine"], top_k=9, top_k_set=True))[0]) == 2


def test_huge_texts_are_truncated_not_rejected(model):
    huge = "terrible " * 500_000
    answer = model.predict(Request(texts=[huge]))[0]
    capped = model.predict(Request(texts=[" ".join(["terrible"] * (model.max_length - 2))]))[0]
    assert answer["label"] == capped["label"] and answer["score"] == pytest.approx(capped["score"], abs=1e-5)
    short = model.predict(Request(texts=[huge], max_length=8))[0]
    assert short["label"] in model.labels


def test_each_text_gets_a_signal_of_its_answer_its_length_and_whether_the_window_cut_it(model):
    texts = ["fine", " ".join(["good"] * (model.max_length - 2)), " ".join(["good"] * model.max_length), "x" * 10**6]
    answers, signals = model.predict_with_signals(Request(texts=texts))
    assert [model.labels[s.predicted] for s in signals] == [a["label"] for a in answers]
    assert [s.score for s in signals] == pytest.approx([a["score"] for a in answers])
    # [CLS] fine [SEP]; a text that just fills the window is whole; one token more is cut, and so is a string longer
    # than the window's characters (this model reads head and tail: the string's two ends, each one word that
    # WordPiece reads as [UNK]).
    assert model.long_text == "head_tail"
    assert [s.tokens for s in signals] == [3, model.max_length, model.max_length, 4]
    assert [s.truncated for s in signals] == [False, False, True, True]
    _, (short,) = model.predict_with_signals(Request(texts=["good " * 20], max_length=8))
    assert short.truncated and short.tokens == 8


def test_int8_quantizes_linear_layers_and_keeps_answers_close(served_model_dir, model):
    int8 = TextClassifier.load(served_model_dir, quantize="int8")
    assert int8.quantized
    kinds = {f"{type(m).__module__}.{type(m).__name__}" for m in int8.model.modules()}
    assert "torch.ao.nn.quantized.dynamic.modules.linear.Linear" in kinds
    assert "torch.nn.modules.linear.Linear" not in kinds
    texts = ["a wonderful film", "dull and slow", "fine", "bad acting, good music"]
    fp32 = model.predict(Request(texts=texts, top_k=None, top_k_set=True))
    quantized = int8.predict(Request(texts=texts, top_k=None, top_k_set=True))
    for a, b in zip(fp32, quantized, strict=True):
        scores_a = {r["label"]: r["score"] for r in a}
        scores_b = {r["label"]: r["score"] for r in b}
        assert scores_a == pytest.approx(scores_b, abs=0.05)


def test_quantize_env_is_validated(served_model_dir, monkeypatch):
    monkeypatch.setenv(classifier.QUANTIZE_ENV, "int4")
    with pytest.raises(ValueError, match=r"^TEXTCLF_QUANTIZE: unknown value 'int4'"):
        TextClassifier.load(served_model_dir)


def test_threads_are_split_between_model_server_workers(monkeypatch):
    cpus = len(__import__("os").sched_getaffinity(0))
    monkeypatch.delenv("TEXTCLF_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("SAGEMAKER_MODEL_SERVER_WORKERS", "1")
    assert threads_per_worker() == cpus
    monkeypatch.setenv("SAGEMAKER_MODEL_SERVER_WORKERS", str(cpus * 2))
    assert threads_per_worker() == 1
    # multi-model-server sets OMP_NUM_THREADS=1 in every worker that starts without it: that is no setting of ours.
    monkeypatch.setenv("SAGEMAKER_MODEL_SERVER_WORKERS", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads_per_worker() == cpus
    monkeypatch.setenv("TEXTCLF_THREADS", "3")
    assert threads_per_worker() == 3


def test_load_sets_the_thread_count(served_model_dir, monkeypatch):
    monkeypatch.setenv("TEXTCLF_THREADS", "1")
    before = torch.get_num_threads()
    try:
        TextClassifier.load(served_model_dir, quantize="")
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("verdict, served_int8", [("true", True), ("false", False), (None, True)])
def test_the_endpoint_serves_int8_only_where_evaluation_did_not_refuse_it(
    served_model_dir, monkeypatch, caplog, verdict, served_int8
):
    monkeypatch.setenv(classifier.QUANTIZE_ENV, "int8")
    if verdict is None:
        monkeypatch.delenv(classifier.INT8_VERIFIED_ENV, raising=False)
    else:
        monkeypatch.setenv(classifier.INT8_VERIFIED_ENV, verdict)
    assert TextClassifier.load(served_model_dir).quantized is served_int8
    if verdict != "true":
        assert classifier.INT8_VERIFIED_ENV in caplog.text, "an unverified or refused int8 is logged"


def test_int8_verdict_is_half_a_point_of_accuracy():
    assert classifier.int8_verified(0.900, 0.895) and not classifier.int8_verified(0.900, 0.894)


def test_int8_answers_do_not_depend_on_the_other_texts_in_the_request(served_model_dir):
    int8 = TextClassifier.load(served_model_dir, quantize="int8")
    texts = ["a wonderful film", "dull and slow " * 20, "fine", "bad acting, good music and a very long plot " * 5]
    alone = [int8.predict(Request(texts=[text]))[0] for text in texts]
    assert int8.predict(Request(texts=texts)) == alone


@pytest.mark.parametrize("quantize", ["", "int8"])
def test_one_text_is_answered_by_the_traced_graph_exactly_as_by_the_model(served_model_dir, quantize):
    served = TextClassifier.load(served_model_dir, quantize=quantize)
    assert isinstance(served.one_text, torch.jit.ScriptModule)
    texts = ["fine", "a wonderful, moving film with a superb cast", "dull and slow " * 40, "bad " * 400]
    for text in texts:
        ids = served.tokenizer(text, truncation=True, max_length=served.max_length)["input_ids"]
        with torch.inference_mode():
            eager = served.model(input_ids=torch.tensor([ids])).logits.softmax(dim=-1)[0]
        answer = served.predict(Request(texts=[text], top_k=None, top_k_set=True))[0]
        assert {r["label"]: r["score"] for r in answer} == pytest.approx(
            {label: float(p) for label, p in zip(served.labels, eager, strict=True)}, abs=1e-6
        )


def _tiny(model_class, config):
    torch.manual_seed(0)
    return model_class(config).eval()


@pytest.mark.parametrize(
    "model",
    [
        # The production student and teacher architectures, small and random: tracing depends on the code, not
        # the weights.
        _tiny(DistilBertForSequenceClassification, DistilBertConfig(n_layers=2, dim=32, hidden_dim=64, n_heads=2)),
        _tiny(
            BertForSequenceClassification,
            BertConfig(num_hidden_layers=2, hidden_size=32, intermediate_size=64, num_attention_heads=2),
        ),
    ],
    ids=["distilbert", "bert"],
)
def test_production_architectures_trace_for_every_text_length(model):
    graph = trace_one_text(model)
    assert isinstance(graph, torch.jit.ScriptModule)
    with torch.inference_mode():
        for length in (1, 2, 9, 130, 512):
            ids = torch.randint(1000, 2000, (1, length))
            assert torch.equal(graph(ids), model(input_ids=ids).logits), f"length {length}"


class _BranchesOnLength(torch.nn.Module):
    """A model whose Python branches on the text's length: a trace records only the branch it took."""

    def __init__(self) -> None:
        super().__init__()
        self.config = BertConfig(max_position_embeddings=128)
        self.embeddings = torch.nn.Embedding(100, 2)

    def get_input_embeddings(self):
        return self.embeddings

    def forward(self, input_ids):
        pooled = self.embeddings(input_ids).mean(dim=1)
        return SequenceClassifierOutput(logits=pooled if input_ids.shape[1] < 32 else -pooled)


class _Untraceable(_BranchesOnLength):
    """Stands for any model the tracer refuses (unsupported outputs, ops or arguments)."""

    def forward(self, input_ids):
        if torch.jit.is_tracing():
            raise RuntimeError("this model cannot be traced")
        return super().forward(input_ids)


@pytest.mark.parametrize("model", [_BranchesOnLength(), _Untraceable()], ids=["inexact", "untraceable"])
def test_a_model_that_does_not_trace_exactly_is_served_eagerly(model, caplog):
    served = trace_one_text(model)
    assert not isinstance(served, torch.jit.ScriptModule)
    assert "serving" in caplog.text and "eagerly" in caplog.text
    ids = torch.arange(3, 70).unsqueeze(0)
    assert torch.equal(served(ids), model(input_ids=ids).logits)


def recorded_as(served_model_dir: Path, target: Path, **keys) -> Path:
    """The served model with config.json's long-text and temperature keys set (None: removed), as training
    records them."""
    shutil.copytree(served_model_dir, target)
    config = json.loads((target / "config.json").read_text())
    for key, value in keys.items():
        config.pop(key, None) if value is None else config.__setitem__(key, value)
    (target / "config.json").write_text(json.dumps(config))
    return target


LONG_REVIEW = "the plot drags on and on, scene after scene. " * 40 + "yet the ending is wonderful, a great film"


@pytest.mark.parametrize("strategy", long_text.STRATEGIES)
def test_a_long_text_is_answered_from_the_windows_its_strategy_reads_with_the_models_temperature(
    served_model_dir, tmp_path, strategy
):
    """The answer is the mean over the strategy's windows of softmax(logits / T), computed here from the eager model."""
    keys = {contract.LONG_TEXT_CONFIG: strategy, contract.TEMPERATURE_CONFIG: 2.5}
    served = TextClassifier.load(recorded_as(served_model_dir, tmp_path / "m", **keys), quantize="")
    assert (served.long_text, served.temperature) == (strategy, 2.5)
    (read,) = long_text.encode(served.tokenizer, [LONG_REVIEW], strategy, served.max_length)
    assert (len(read.ids) > 1) == (strategy == "chunks")
    with torch.no_grad():
        windows = [served.model(input_ids=torch.tensor([ids])).logits[0] for ids in read.ids]
    expected = torch.stack([(logits / 2.5).softmax(-1) for logits in windows]).mean(0)
    (ranked,) = served.predict(Request(texts=[LONG_REVIEW], top_k=None, top_k_set=True))
    assert {r["label"]: r["score"] for r in ranked} == pytest.approx(
        {served.labels[i]: float(p) for i, p in enumerate(expected)}, abs=1e-5
    )


def test_a_model_without_a_recorded_strategy_or_temperature_is_served_as_before(served_model_dir, tmp_path):
    keys = {contract.LONG_TEXT_CONFIG: None, contract.TEMPERATURE_CONFIG: None}
    served = TextClassifier.load(recorded_as(served_model_dir, tmp_path / "m", **keys), quantize="")
    assert (served.long_text, served.temperature) == ("head", 1.0)


@pytest.mark.parametrize(
    "key, value, message",
    [
        (contract.LONG_TEXT_CONFIG, "tail", r"unknown long-text strategy 'tail'\. Fix: set it to one of head, "),
        (contract.TEMPERATURE_CONFIG, -1, r"textclf_temperature: -1 is not a temperature within 0.05..20\. Fix: "),
    ],
)
def test_a_recorded_setting_the_handler_does_not_know_is_refused_at_load_naming_the_fix(
    served_model_dir, tmp_path, key, value, message
):
    with pytest.raises(ValueError, match=message):
        TextClassifier.load(recorded_as(served_model_dir, tmp_path / "m", **{key: value}), quantize="int8")


def test_int8_needs_the_shift_channels_agreement_as_well_as_the_test_channels_accuracy():
    assert classifier.int8_verified(0.900, 0.896, agreement=None)
    assert classifier.int8_verified(0.900, 0.896, agreement=0.99)
    assert not classifier.int8_verified(0.900, 0.896, agreement=0.989)
    assert not classifier.int8_verified(0.900, 0.890, agreement=1.0)
