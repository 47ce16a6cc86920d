"""Request decoding and response encoding for the endpoint, with client errors that name the field.

The JSON request is the Hugging Face toolkit's own format, so existing clients work:
``{"inputs": "text" | ["t1", ...], "parameters": {"top_k": k, "truncation": true, "max_length": n}}``.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from contract import CSV, JSON, JSONLINES, MAX_BATCH_ENV

ANY = "*/*"

# A serverless invocation carries at most 4 MB; this bounds one request's compute as well.
MAX_BATCH = int(os.environ.get(MAX_BATCH_ENV, "64"))
# The model server's frontend reads a worker's answer into a buffer of max_response_size bytes (its
# MMS_MAX_RESPONSE_SIZE, 6,553,500 unless set) and drops the worker when one is longer: HTTP 500 "Worker
# died." and a reload. A serverless endpoint returns at most 4 MB anyway. 1 KB is left for the reply's framing.
MAX_RESPONSE_ENV = "MMS_MAX_RESPONSE_SIZE"
MAX_ANSWER_BYTES = min(4 * 1024 * 1024, int(os.environ.get(MAX_RESPONSE_ENV, "6553500")) - 1024)
PARAMETERS = ("top_k", "truncation", "max_length")
EXAMPLE = '{"inputs": "some text"}'


class ClientError(ValueError):
    """The request is wrong; ``status`` is the HTTP code a client should see."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Request:
    texts: list[str]
    # A single string in ``inputs`` gets a single result back, as the toolkit's pipeline does.
    single: bool = False
    top_k: int | None = None
    # None means all labels, ranked (``"top_k": null``); unset means the best label only.
    top_k_set: bool = False
    max_length: int | None = None


def media_type(header: str | None) -> str:
    """``application/json; charset=utf-8`` -> ``application/json``."""
    return (header or "").split(";", 1)[0].strip().lower()


def as_text(body: str | bytes | bytearray) -> str:
    if isinstance(body, str):
        return body
    try:
        return bytes(body).decode("utf-8")
    except UnicodeDecodeError as error:
        raise ClientError(
            f"body: not valid UTF-8 ({error.reason} at byte {error.start}). Fix: encode text as UTF-8."
        ) from None


def decode_json(body: str) -> Request:
    document = _parse_json(body, "body")
    if not isinstance(document, dict) or "inputs" not in document:
        raise ClientError('body: expected a JSON object with "inputs". Fix: send {"inputs": "some text"}.')
    unknown = sorted(set(document) - {"inputs", "parameters"})
    if unknown:
        raise ClientError(f'{_name(unknown[0])}: unknown field. Fix: send only "inputs" and "parameters".')
    inputs = document["inputs"]
    single = isinstance(inputs, str)
    texts = _check_texts([inputs] if single else inputs, "inputs", single)
    return Request(texts=texts, single=single, **_check_parameters(document.get("parameters")))


# Batch transform matches answers to input lines by position: a skipped line would shift every answer after it.
BLANK_LINE_FIX = "Fix: remove it; answers are matched to lines by position."


def decode_jsonlines(body: str) -> Request:
    lines = body.splitlines()
    # Counted before any line is parsed: a 4 MB body of short lines would cost seconds of CPU before its 413.
    _check_count(len(lines), "lines")
    texts = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise ClientError(f"line {number}: blank line. {BLANK_LINE_FIX}")
        record = _parse_json(line, f"line {number}")
        texts.append(record.get("inputs") if isinstance(record, dict) else record)
        if isinstance(record, dict) and set(record) != {"inputs"}:
            raise ClientError(f'line {number}: expected "text" or {{"inputs": "text"}}. Fix: one text per line.')
    return Request(texts=_check_texts(texts, "lines", single=False))


def decode_csv(body: str) -> Request:
    texts = []
    try:
        # Read no further than one row past the limit: a quoted text may span lines, so rows are counted as read.
        rows = list(itertools.islice(csv.reader(io.StringIO(body)), MAX_BATCH + 1))
    except csv.Error as error:
        raise ClientError(f"body: not valid CSV ({error}). Fix: send one quoted text per row.") from None
    _check_count(len(rows), "rows", at_least=len(rows) > MAX_BATCH)
    for number, row in enumerate(rows, start=1):
        if not row:
            raise ClientError(f"row {number}: blank row. {BLANK_LINE_FIX}")
        if len(row) != 1:
            raise ClientError(f"row {number}: expected 1 column, got {len(row)}. Fix: quote texts that contain commas.")
        texts.append(row[0])
    return Request(texts=_check_texts(texts, "rows", single=False))


DECODERS: dict[str, Callable[[str], Request]] = {JSON: decode_json, JSONLINES: decode_jsonlines, CSV: decode_csv}


def encode_json(results: list, single: bool) -> str:
    return json.dumps(results[0] if single and isinstance(results[0], list) else results)


def encode_jsonlines(results: list, single: bool) -> str:
    return "".join(json.dumps(result) + "\n" for result in results)


def encode_csv(results: list, single: bool) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for result in results:
        best = result[0] if isinstance(result, list) else result
        writer.writerow([best["label"], f"{best['score']:.6f}"])
    return buffer.getvalue()


ENCODERS: dict[str, Callable[[list, bool], str]] = {JSON: encode_json, JSONLINES: encode_jsonlines, CSV: encode_csv}


def choose_encoder(accept: str | None) -> Callable[[list, bool], str]:
    for candidate in (media_type(part) for part in (accept or ANY).split(",")):
        if candidate in ("", ANY, "application/*"):
            return ENCODERS[JSON]
        if candidate in ENCODERS:
            return ENCODERS[candidate]
    raise ClientError(
        f"accept: cannot answer in {_shown(accept)}. Fix: accept one of {', '.join(ENCODERS)}.", status=406
    )


def bounded(answer: str) -> str:
    """``answer``, unless it is longer than the model server can pass back without losing its worker."""
    size = len(answer.encode("utf-8"))
    if size > MAX_ANSWER_BYTES:
        raise ClientError(
            f"answer: {size} bytes is more than the {MAX_ANSWER_BYTES} an answer may hold. "
            "Fix: send fewer texts per request, or ask for fewer labels with a smaller top_k."
        )
    return answer


def _parse_json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise ClientError(f"{where}: JSON nested too deeply. Fix: send a flat object such as {EXAMPLE}.") from None
    except ValueError as error:
        raise ClientError(f"{where}: malformed JSON ({_name(str(error), 120)}). Fix: send valid JSON.") from None


def _check_count(count: int, field: str, *, at_least: bool = False) -> None:
    if count > MAX_BATCH:
        more = "more" if at_least else f"{count} texts is more"
        raise ClientError(
            f"{field}: {more} than the {MAX_BATCH} allowed in one request. Fix: split the batch.", status=413
        )


def _check_texts(texts: Any, field: str, single: bool) -> list[str]:
    if not isinstance(texts, list) or not texts:
        raise ClientError(f"{field}: expected a text or a non-empty list of texts. Fix: send at least one text.")
    _check_count(len(texts), field)
    for index, text in enumerate(texts):
        where = field if single else f"{field}[{index}]"
        if not isinstance(text, str):
            raise ClientError(f"{where}: expected a string, got {type(text).__name__}. Fix: send text.")
        if not text.strip():
            raise ClientError(f"{where}: empty text. Fix: send non-blank text.")
        _check_unicode(text, where)
    return texts


def _check_unicode(text: str, where: str) -> None:
    """JSON may escape half of a surrogate pair ("\\ud800"), which is no character: the tokenizer cannot read it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ClientError(
            f"{where}: a lone surrogate ({ascii(error.object[error.start])}) at character {error.start}. "
            "Fix: send whole characters; escape one outside the BMP as a pair, e.g. \\ud83d\\ude00."
        ) from None


def _check_parameters(parameters: Any) -> dict:
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise ClientError('parameters: expected an object. Fix: send e.g. {"top_k": 2}.')
    unknown = sorted(set(parameters) - set(PARAMETERS))
    if unknown:
        raise ClientError(f"parameters.{_name(unknown[0])}: unknown parameter. Fix: use {', '.join(PARAMETERS)}.")
    checked: dict[str, Any] = {}
    if "top_k" in parameters:
        top_k = parameters["top_k"]
        if top_k is not None and not _is_positive_int(top_k):
            raise ClientError(
                f"parameters.top_k: must be a positive integer or null (got {_shown(top_k)}). Fix: e.g. 2."
            )
        checked.update(top_k=top_k, top_k_set=True)
    if parameters.get("truncation", True) is not True:
        # The model cannot read past its last position; texts are always cut to fit, never rejected.
        raise ClientError("parameters.truncation: only true is supported. Fix: omit it or send true.")
    if "max_length" in parameters:
        max_length = parameters["max_length"]
        if not _is_positive_int(max_length) or max_length < 2:
            raise ClientError(
                f"parameters.max_length: must be an integer >= 2 (got {_shown(max_length)}). Fix: e.g. 128."
            )
        checked["max_length"] = max_length
    return checked


def _shown(value: Any, limit: int = 40) -> str:
    """A client's value as a message may echo it: cut short, so no client decides how long an answer is.

    The model server's frontend misreads a worker's reply whose error message is long (a multi-model-server
    framing fault that kills the worker), so every message stays short whatever the request held.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        # Past 4,300 digits Python refuses even to print it.
        return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 4]}...{text[-1]}"


def _name(text: str, limit: int = 40) -> str:
    """A client's field name or a parser's message, unquoted and cut short like any echo."""
    return _shown(text, limit + 2)[1:-1]


def _is_positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1
