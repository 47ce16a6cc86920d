"""Request decoding and response encoding: every bad request is a ClientError that names the field."""

from __future__ import annotations

import json
import re

import payloads
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from payloads import ClientError, Request, choose_encoder, decode_csv, decode_json, decode_jsonlines


def test_json_single_text_and_list():
    assert decode_json('{"inputs": "great"}') == Request(texts=["great"], single=True)
    assert decode_json('{"inputs": ["a", "b"]}') == Request(texts=["a", "b"])


def test_json_parameters_follow_the_toolkit_format():
    request = decode_json('{"inputs": "x", "parameters": {"top_k": 2, "truncation": true, "max_length": 64}}')
    assert (request.top_k, request.top_k_set, request.max_length) == (2, True, 64)
    everything = decode_json('{"inputs": "x", "parameters": {"top_k": null}}')
    assert everything.top_k is None and everything.top_k_set


@pytest.mark.parametrize(
    "body, field, status",
    [
        ('{"inputs": ', "body: malformed JSON", 400),
        ('["a"]', 'body: expected a JSON object with "inputs"', 400),
        ('{"text": "a"}', 'body: expected a JSON object with "inputs"', 400),
        ('{"inputs": "a", "extra": 1}', "extra: unknown field", 400),
        ('{"inputs": ""}', "inputs: empty text", 400),
        ('{"inputs": "   "}', "inputs: empty text", 400),
        ('{"inputs": []}', "inputs: expected a text or a non-empty list", 400),
        ('{"inputs": 3}', "inputs: expected a text or a non-empty list", 400),
        ('{"inputs": ["a", 3]}', "inputs[1]: expected a string, got int", 400),
        ('{"inputs": ["a", null]}', "inputs[1]: expected a string, got NoneType", 400),
        ('{"inputs": "a", "parameters": [1]}', "parameters: expected an object", 400),
        ('{"inputs": "a", "parameters": {"temperature": 1}}', "parameters.temperature: unknown parameter", 400),
        ('{"inputs": "a", "parameters": {"top_k": 0}}', "parameters.top_k: must be a positive integer", 400),
        ('{"inputs": "a", "parameters": {"top_k": true}}', "parameters.top_k: must be a positive integer", 400),
        ('{"inputs": "a", "parameters": {"top_k": "2"}}', "parameters.top_k: must be a positive integer", 400),
        ('{"inputs": "a", "parameters": {"truncation": false}}', "parameters.truncation: only true", 400),
        ('{"inputs": "a", "parameters": {"max_length": 1}}', "parameters.max_length: must be an integer >= 2", 400),
        ('{"inputs": "a", "parameters": {"max_length": 1.5}}', "parameters.max_length: must be an integer", 400),
    ],
)
def test_bad_json_requests_name_the_field(body, field, status):
    with pytest.raises(ClientError) as error:
        decode_json(body)
    assert str(error.value).startswith(field)
    assert "Fix:" in str(error.value)
    assert error.value.status == status


def test_over_long_batch_is_413(monkeypatch):
    monkeypatch.setattr(payloads, "MAX_BATCH", 4)
    assert len(decode_json(json.dumps({"inputs": ["t"] * 4})).texts) == 4
    with pytest.raises(ClientError, match=r"^inputs: 5 texts is more than the 4 allowed") as error:
        decode_json(json.dumps({"inputs": ["t"] * 5}))
    assert error.value.status == 413


@pytest.mark.parametrize(
    "decode, body, field",
    [
        # The line past the limit would fail to parse: counted first, the body is refused for its size alone.
        (decode_jsonlines, '"t"\n' * 5 + "{not json", "lines"),
        (decode_csv, "t\n" * 5 + '"an unterminated quote', "rows"),
    ],
)
def test_lines_and_rows_are_counted_before_they_are_parsed(monkeypatch, decode, body, field):
    """Issue 30: a 4 MB JSON Lines or CSV body was parsed whole (1.6-2.8 s of CPU) before its 413."""
    monkeypatch.setattr(payloads, "MAX_BATCH", 4)
    with pytest.raises(ClientError, match=rf"^{field}: .*than the 4 allowed") as error:
        decode(body)
    assert error.value.status == 413


@pytest.mark.parametrize(
    "decode, body, where",
    [
        (decode_json, '{"inputs": "fine \\ud800"}', "inputs"),
        (decode_json, '{"inputs": ["fine", "\\udfff"]}', r"inputs\[1\]"),
        (decode_jsonlines, '"fine"\n"\\ud83d"', r"lines\[1\]"),
    ],
)
def test_a_lone_surrogate_is_a_400_naming_the_text(decode, body, where):
    """JSON may escape half a surrogate pair; the tokenizer then fails inside the worker (a server error)."""
    with pytest.raises(ClientError, match=rf"^{where}: a lone surrogate .* Fix: ") as error:
        decode(body)
    assert error.value.status == 400
    assert decode_json('{"inputs": "\\ud83d\\ude00 a pair is one character"}').texts == [
        "\U0001f600 a pair is one character"
    ]


def test_an_answer_longer_than_the_server_can_pass_back_is_a_client_error(monkeypatch):
    monkeypatch.setattr(payloads, "MAX_ANSWER_BYTES", 10)
    assert payloads.bounded("é" * 5) == "é" * 5  # 10 bytes in UTF-8
    with pytest.raises(ClientError, match=r"^answer: 12 bytes is more than the 10 .* Fix: send fewer texts") as error:
        payloads.bounded("é" * 6)
    assert error.value.status == 400


def test_jsonlines_accepts_strings_and_objects():
    request = decode_jsonlines('"first"\n{"inputs": "second"}\n')
    assert request.texts == ["first", "second"] and not request.single


@pytest.mark.parametrize(
    "body, field",
    [
        ('"a"\n{"inputs": ', "line 2: malformed JSON"),
        ('{"inputs": "a", "x": 1}', "line 1: expected"),
        ("3", "lines[0]: expected a string"),
        ("", "lines: expected a text or a non-empty list"),
        # A batch transform's answers are matched to its lines by position: skipping one would shift the rest.
        ('"a"\n\n"b"\n', "line 2: blank line. Fix: remove it"),
        ('"a"\n"b"\n\n', "line 3: blank line"),
    ],
)
def test_bad_jsonlines_name_the_line(body, field):
    with pytest.raises(ClientError, match="^" + re.escape(field)):
        decode_jsonlines(body)


def test_csv_is_one_quoted_text_per_row():
    assert decode_csv('"good, really"\nbad\n').texts == ["good, really", "bad"]
    with pytest.raises(ClientError, match=r"^row 2: expected 1 column, got 2"):
        decode_csv("fine\ngood, really\n")
    with pytest.raises(ClientError, match=r"^row 2: blank row. Fix: remove it"):
        decode_csv("fine\n\nbad\n")


def test_encoders_follow_the_pipeline_shapes():
    one = [{"label": "positive", "score": 0.9}]
    ranked = [[{"label": "positive", "score": 0.9}, {"label": "negative", "score": 0.1}]]
    assert json.loads(choose_encoder(None)(one, True)) == one
    assert json.loads(choose_encoder("application/json")(ranked, True)) == ranked[0]
    assert json.loads(choose_encoder("*/*")(ranked, False)) == ranked
    lines = choose_encoder("application/jsonlines")(one * 2, False).splitlines()
    assert [json.loads(line) for line in lines] == one * 2
    assert choose_encoder("text/csv")(ranked, False) == "positive,0.900000\n"
    assert choose_encoder("text/html, application/jsonlines;q=0.9") is payloads.ENCODERS[payloads.JSONLINES]


def test_unsupported_accept_is_406():
    with pytest.raises(ClientError, match=r"^accept: cannot answer in 'image/png'") as error:
        choose_encoder("image/png")
    assert error.value.status == 406


def test_body_must_be_utf8():
    assert payloads.as_text("é".encode()) == "é"
    with pytest.raises(ClientError, match=r"^body: not valid UTF-8"):
        payloads.as_text(b"\xff\xfe")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
requests = st.fixed_dictionaries(
    {"inputs": json_values},
    optional={
        "parameters": st.dictionaries(
            st.sampled_from(["top_k", "truncation", "max_length", "other"]), json_values, max_size=3
        )
    },
)


@settings(max_examples=300, deadline=None)
@given(
    body=st.one_of(requests.map(json.dumps), json_values.map(json.dumps), st.text(max_size=200)),
    decoder=st.sampled_from(sorted(payloads.DECODERS)),
)
def test_random_payloads_decode_or_raise_a_client_error(body, decoder):
    try:
        request = payloads.DECODERS[decoder](body)
    except ClientError as error:
        assert 400 <= error.status < 500 and "Fix:" in str(error)
        return
    assert request.texts and all(isinstance(text, str) and text.strip() for text in request.texts)


HOSTILE = [
    '{"inputs": "x", "parameters": {"top_k": ' + "9" * 5000 + "}}",
    '{"inputs": "x", "parameters": {"top_k": -' + "9" * 300 + "}}",
    '{"inputs": "x", "parameters": {"max_length": "' + "z" * 100_000 + '"}}',
    '{"' + "k" * 100_000 + '": 1, "inputs": "x"}',
    '{"inputs": "x", "parameters": {"' + "p" * 100_000 + '": 1}}',
    "[" * 100_000 + "]" * 100_000,
    '{"inputs": ' + "[" * 5_000 + '"x"' + "]" * 5_000 + "}",
    '{"inputs": [' + ", ".join(['"text"'] * 10_000) + "]}",
    '{"inputs": "' + "\\ud800" * 1000 + '"',
    '{"inputs": "' + "\\ud800" * 1000 + '"}',
]


@pytest.mark.parametrize("body", HOSTILE, ids=range(len(HOSTILE)))
def test_no_client_value_makes_an_error_message_long(body):
    """The model server's frontend misreads long error replies; a message must not grow with the request."""
    with pytest.raises(ClientError) as error:
        payloads.decode_json(body)
    assert len(str(error.value)) <= 200 and "Fix:" in str(error.value)


def test_a_body_that_is_not_utf8_gets_the_message_format_too():
    with pytest.raises(ClientError, match=r"^body: not valid UTF-8 .* Fix: encode text as UTF-8\.$"):
        payloads.as_text(b"\xff\xfe" + b"x" * 10_000)
