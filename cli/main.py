"""textclf: synthesize, rehearse, train, release and serve the text classifier on SageMaker, from a terminal."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import traceback
from importlib import metadata

from cli import synth_report
from cli.errors import FAILURE, USER_ERROR, Parser, explain, port, positive_int, stage_selection


def _version() -> str:
    try:
        return metadata.version("textclf-mlops")
    except metadata.PackageNotFoundError:  # run from a checkout that `make install` has not installed
        return "(not installed: run make install)"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="textclf", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="print the traceback of a failure, not only its line")
    parser.add_argument("--version", action="version", version=f"textclf {_version()}", help="print the version")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    synth = commands.add_parser(
        "synth",
        help="synthesize stages with the real CDK CLI and summarize stacks, cdk-nag and cfn-lint",
        description="Run `cdk synth` offline, then print stacks, resources by type, cdk-nag and cfn-lint results.",
    )
    synth.add_argument(
        "--stage",
        type=stage_selection,
        default="all",
        help="dev, staging, prod, a comma list, all (default), or delivery: the pipeline that promotes all three",
    )
    synth.add_argument("--outdir", default="cdk.out", help="cloud assembly directory (default: cdk.out)")
    synth.set_defaults(handler=synth_report.run)

    serve = commands.add_parser(
        "serve",
        help="serve a model directory or model.tar.gz on localhost as the SageMaker container does",
        description="Start multi-model-server with the Hugging Face toolkit's handler service and the model's "
        "code/inference.py: GET /ping and POST /invocations, until Ctrl-C.",
    )
    serve.add_argument("model", help="model directory (as training exports it) or model.tar.gz")
    serve.add_argument("--port", type=port, default=8080, help="HTTP port, 1..32766 (default: 8080)")
    serve.add_argument(
        "--workers", type=positive_int, default=None, help="model server workers (default: one per CPU, as in the DLC)"
    )
    serve.add_argument("--int8", action="store_true", help="serve with int8 dynamic quantization (TEXTCLF_QUANTIZE)")
    serve.set_defaults(handler=_lazy("cli.serve", "run_serve"))

    invoke = commands.add_parser("invoke", help="send texts to an endpoint's /invocations and print the answer")
    invoke.add_argument("texts", nargs="*", help="texts to classify")
    invoke.add_argument("--file", default=None, help="a file of texts, one per line; - reads stdin")
    invoke.add_argument(
        "--url", default="http://127.0.0.1:8080", help="endpoint URL, with or without /invocations (default: local)"
    )
    invoke.add_argument("--top-k", type=positive_int, default=None, help="return the k best labels per text")
    invoke.set_defaults(handler=_lazy("cli.serve", "run_invoke"))

    from cli import (
        base_model,
        batch,
        bootstrap_policy,
        charts,
        cost,
        dataset,
        feedback,
        local_run,
        monitor,
        pipeline_ops,
        status,
    )
    from rehearsal import command as rehearse

    local_run.add_parser(commands)
    bootstrap_policy.add_parser(commands)
    dataset.add_parser(commands)
    base_model.add_parser(commands)
    charts.add_parser(commands)
    rehearse.add_parser(commands)
    cost.add_parser(commands)
    pipeline_ops.add_parser(commands)
    status.add_parser(commands)
    monitor.add_parser(commands)
    feedback.add_parser(commands)
    batch.add_parser(commands)

    return parser


def _lazy(module: str, function: str):
    """Import a command's module only when it runs, so `--help` stays fast."""

    def run(args: argparse.Namespace) -> int:
        import importlib

        return getattr(importlib.import_module(module), function)(args)

    return run


@contextlib.contextmanager
def interrupted_by(*signals: signal.Signals):
    """These signals stop a command as Ctrl-C does: a service manager's SIGTERM, a closed terminal's SIGHUP. What the
    command started (a model server in its own session) is then ended by its cleanup, not orphaned (issue 47)."""
    previous = {number: signal.signal(number, _raise_interrupt) for number in signals}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run one command; every failure ends in one line on stderr (cli/errors.py), its traceback only with --debug."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit:  # --help, or a bad argument: argparse has printed its one line
        return exit.code if isinstance(exit.code, int) else USER_ERROR
    try:
        with interrupted_by(signal.SIGTERM, signal.SIGHUP):
            return args.handler(args)
    except (Exception, KeyboardInterrupt) as error:  # noqa: BLE001 - the one place every failure is reported
        if args.debug:
            traceback.print_exc()
        explained = explain(error)
        line, status = explained or (
            f"unexpected {type(error).__name__}: {str(error)[:300]}. Fix: run it again with --debug for the "
            "traceback, and report it.",
            FAILURE,
        )
        print(f"textclf {args.command_name}: {line}", file=sys.stderr)
        return status


if __name__ == "__main__":
    sys.exit(main())
