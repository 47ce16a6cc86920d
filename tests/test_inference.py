"""inference.py as the DLC runs it: inside the real toolkit's HuggingFaceHandlerService, called as MMS calls it."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mms.context import Context, RequestProcessor
from mms.metrics.metrics_store import MetricsStore
from mms.service import PredictionException
from sagemaker_huggingface_inference_toolkit.handler_service import HuggingFaceHandlerService


class ToolkitHandler:
    """One toolkit handler service, initialized by MMS's own Context as a model server worker does."""

    def __init__(self, model_dir) -> None:
        self.context = Context("model", str(model_dir), None, 1, None, "1.1.11")
        self.service = HuggingFaceHandlerService()

    def __call__(self, body, content_type="application/json", accept=None) -> tuple[int, str]:
        headers = {"Content-Type": content_type} if content_type else {}
        if accept:
            headers["Accept"] = accept
        self.context.request_processor = [RequestProcessor(headers)]
        self.context.metrics = MetricsStore({0: "request"}, "model")
        data = body.encode() if isinstance(body, str) else body
        try:
            return 200, self.service.handle([{"body": data}], self.context)[0]
        except PredictionException as error:
            return error.error_code, error.message


@pytest.fixture(scope="module")
def handler(served_model_dir):
    handler = ToolkitHandler(served_model_dir)
    assert handler('{"inputs": "warm up"}')[0] == 200
    return handler


def test_toolkit_loads_our_functions_from_code_dir(handler):
    service = handler.service
    assert service.initialized
    assert {fn.__module__ for fn in (service.load, service.preprocess, service.predict, service.postprocess)} == {
        "inference"
    }
    assert type(service.model).__name__ == "TextClassifier"


def test_json_request_answers_like_the_default_pipeline(handler):
    status, body = handler('{"inputs": "a great movie"}')
    assert status == 200
    [answer] = json.loads(body)
    assert answer["label"] in ("negative", "positive") and 0.5 <= answer["score"] <= 1.0

    status, body = handler('{"inputs": ["great", "awful"], "parameters": {"top_k": 2}}')
    ranked = json.loads(body)
    assert status == 200 and [len(r) for r in ranked] == [2, 2]
    assert {r["label"] for r in ranked[0]} == {"negative", "positive"}


def test_jsonlines_and_csv_batches(handler):
    status, body = handler('"great"\n{"inputs": "awful"}\n', "application/jsonlines", "application/jsonlines")
    assert status == 200 and len(body.splitlines()) == 2
    status, body = handler('"good, really"\nbad\n', "text/csv; charset=utf-8", "text/csv")
    rows = body.splitlines()
    assert status == 200 and len(rows) == 2 and rows[0].split(",")[0] in ("negative", "positive")


@pytest.mark.parametrize(
    "body, content_type, accept, message",
    [
        ('{"inputs": ', "application/json", None, "body: malformed JSON"),
        ('{"inputs": "x"}', "text/plain", None, "content_type: 'text/plain' is not supported"),
        ('{"inputs": "x"}', None, None, "content_type: None is not supported"),
        ('{"inputs": "x"}', "application/json", "image/png", "accept: cannot answer in 'image/png'"),
        ('{"inputs": [""]}', "application/json", None, "inputs[0]: empty text"),
        ('{"inputs": ["x", 1]}', "application/json", None, "inputs[1]: expected a string"),
        ('{"inputs": "x", "parameters": {"top_k": -1}}', "application/json", None, "parameters.top_k"),
        (b"\xff\xfe", "application/json; charset=utf-8", None, "body: not valid UTF-8"),
        (json.dumps({"inputs": ["t"] * 65}), "application/json", None, "inputs: 65 texts is more than the 64"),
    ],
)
def test_bad_requests_are_4xx_with_the_field_and_the_fix(handler, body, content_type, accept, message):
    status, text = handler(body, content_type, accept)
    # Toolkit 2.6's handle() reports every failure as 400; our message says what to fix.
    assert status == 400
    assert text.startswith(message) and "Fix:" in text


def test_huge_text_is_truncated_not_rejected(handler):
    status, body = handler(json.dumps({"inputs": "word " * 200_000}))
    assert status == 200 and json.loads(body)[0]["label"] in ("negative", "positive")


payload_fields = st.dictionaries(
    st.sampled_from(["inputs", "parameters", "other"]),
    st.one_of(
        st.text(max_size=30),
        st.lists(st.one_of(st.text(max_size=30), st.integers()), max_size=5),
        st.dictionaries(
            st.sampled_from(["top_k", "max_length", "truncation"]),
            st.one_of(st.integers(-2, 600), st.booleans(), st.none()),
            max_size=3,
        ),
    ),
    max_size=3,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(payload_fields.map(json.dumps), st.binary(max_size=64), st.text(max_size=64)),
    content_type=st.sampled_from(["application/json", "application/jsonlines", "text/csv", "text/plain", None]),
)
def test_random_payloads_get_an_answer_or_a_client_error(handler, body, content_type):
    status, text = handler(body, content_type)
    if status == 200:
        answers = json.loads(text)
        assert isinstance(answers, list) and answers
    else:
        # The toolkit itself decodes application/json and text/csv bodies before our input_fn runs.
        toolkit_decode_error = "codec can't decode" in text
        assert status == 400 and ("Fix:" in text or toolkit_decode_error), text


def test_requests_log_no_timing_lines_but_toolkit_warnings_still_show(served_model_dir, caplog):
    import logging

    handler = ToolkitHandler(served_model_dir)
    with caplog.at_level(logging.INFO):
        assert handler('{"inputs": "a great movie"}')[0] == 200
        assert handler('{"inputs": "a dull movie"}')[0] == 200
        toolkit = logging.getLogger("sagemaker_huggingface_inference_toolkit.handler_service")
        toolkit.warning("a toolkit warning")
    from_toolkit = [r for r in caplog.records if r.name == toolkit.name]
    assert [r.getMessage() for r in from_toolkit if "time -" in r.getMessage()] == []
    assert [r.getMessage() for r in from_toolkit if r.levelno >= logging.WARNING] == ["a toolkit warning"]
