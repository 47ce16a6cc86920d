"""`textclf serve` and `textclf invoke`: the local endpoint from a terminal."""

from __future__ import annotations

import argparse
import json
import signal
import time

from rehearsal.sagemaker.local_endpoint import EndpointError, LocalEndpoint, invoke
from training import contract


def run_serve(args: argparse.Namespace) -> int:
    env = {contract.QUANTIZE_ENV: "int8"} if args.int8 else {}
    endpoint = LocalEndpoint(args.model, port=args.port, workers=args.workers, env=env)
    # A service manager stops us with SIGTERM: end the model server with us, as Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        endpoint.start()
    except EndpointError as error:
        print(f"textclf serve: {error}")
        return 1
    except KeyboardInterrupt:
        return 0  # start() has already ended the server
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


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run_invoke(args: argparse.Namespace) -> int:
    body: dict = {"inputs": args.texts if len(args.texts) > 1 else args.texts[0]}
    if args.top_k is not None:
        body["parameters"] = {"top_k": args.top_k}
    started = time.perf_counter()
    status, answer = invoke(args.url, json.dumps(body))
    elapsed_ms = (time.perf_counter() - started) * 1000
    print(f"HTTP {status} in {elapsed_ms:.1f} ms")
    print(answer.decode(errors="replace"))
    return 0 if status == 200 else 1
