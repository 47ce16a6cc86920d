"""`textclf serve` and `textclf invoke`: the local endpoint from a terminal."""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.parse
from pathlib import Path

from cli.errors import Failure, UserError
from rehearsal.sagemaker.local_endpoint import EndpointError, EndpointInputError, LocalEndpoint, invoke
from training import contract


def run_serve(args: argparse.Namespace) -> int:
    env = {contract.QUANTIZE_ENV: "int8"} if args.int8 else {}
    endpoint = LocalEndpoint(args.model, port=args.port, workers=args.workers, env=env)
    # SIGTERM and SIGHUP arrive as Ctrl-C does (cli.main.interrupted_by): the server ends with us.
    try:
        endpoint.start()
    except EndpointInputError as error:
        raise UserError(str(error)) from error
    except EndpointError as error:
        raise Failure(f"{error}\nFix: the model server's log above says why.") from error
    # start() returns once a real invocation has been answered.
    print(f"Serving {args.model} at {endpoint.url} (GET /ping, POST /invocations); Ctrl-C stops it.", flush=True)
    print(f"Model server log: {endpoint.log_path}")
    try:
        while endpoint.running:
            time.sleep(1)
        print("textclf serve: the model server exited; see its log above.")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        endpoint.cleanup()


def run_invoke(args: argparse.Namespace) -> int:
    texts = [*args.texts, *(_read_texts(args.file) if args.file else [])]
    if not texts:
        raise UserError(
            "no text to classify. Fix: give texts as arguments, or --file FILE (- for stdin), one per line."
        )
    blank = [index for index, text in enumerate(texts, start=1) if not text.strip()]
    if blank:
        raise UserError(f"text {blank[0]} is blank: there is nothing to classify. Fix: give it some words.")
    base = endpoint_base(args.url)
    body: dict = {"inputs": texts if len(texts) > 1 else texts[0]}
    if args.top_k is not None:
        body["parameters"] = {"top_k": args.top_k}
    started = time.perf_counter()
    status, answer = invoke(base, json.dumps(body))
    elapsed_ms = (time.perf_counter() - started) * 1000
    if status != 200:
        raise _refusal(status, answer)
    print(f"HTTP {status} in {elapsed_ms:.1f} ms")
    print(answer.decode(errors="replace"))
    return 0


def _refusal(status: int, answer: bytes) -> UserError | Failure:
    """The endpoint's error as one line. The toolkit answers 400 for every exception, the handler's own faults too:
    only a 4xx whose message names a fix (the handler's checks of the request do) is the request's fault."""
    text = answer.decode(errors="replace")
    try:
        message = str(json.loads(text).get("message") or text)
    except (json.JSONDecodeError, AttributeError):
        message = text
    message = " ".join(message.split())[:500].rstrip(".") or "no message"
    if 400 <= status < 500 and "Fix:" in message:
        return UserError(f"the endpoint refused the request (HTTP {status}): {message}.")
    return Failure(
        f"the endpoint failed (HTTP {status}): {message}. Fix: check the model server's log (textclf serve prints "
        "it), then try again."
    )


def endpoint_base(url: str) -> str:
    """The endpoint's base URL, given with or without /invocations (the smoke step's --url takes the full one). Any
    other path (…/ping, a typo) is refused: /ping would answer 200 to anything posted, as if it had classified."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise UserError(f"--url: {url!r} is not an http(s) URL. Fix: e.g. http://127.0.0.1:8080.")
    if parsed.path.rstrip("/") not in ("", "/invocations"):
        base = urllib.parse.urlunparse(parsed._replace(path="", params="", query="", fragment=""))
        raise UserError(
            f"--url: {url!r} names the path {parsed.path!r}, not the endpoint. Fix: give its base, {base}, "
            f"or {base}/invocations."
        )
    return url.rstrip("/").removesuffix("/invocations")


def _read_texts(path: str) -> list[str]:
    """One text per non-blank line of ``path``, or of stdin for ``-``."""
    try:
        lines = sys.stdin.read().splitlines() if path == "-" else Path(path).read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise UserError(
            f"--file {path}: not UTF-8 (byte {error.object[error.start]:#04x} at offset {error.start}). Fix: save it "
            f"as UTF-8, e.g. iconv -f latin1 -t utf-8 {path} > texts.txt."
        ) from None
    return [line for line in lines if line.strip()]
