"""Entry point of the `textclf` command."""

from __future__ import annotations

import argparse
import sys

from cli import synth_report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="textclf", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    synth = commands.add_parser(
        "synth",
        help="synthesize stages with the real CDK CLI and summarize stacks, cdk-nag and cfn-lint",
        description="Run `cdk synth` offline, then print stacks, resources by type, cdk-nag and cfn-lint results.",
    )
    synth.add_argument(
        "--stage",
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
    serve.add_argument("--port", type=int, default=8080, help="HTTP port, below 32767 (default: 8080)")
    serve.add_argument(
        "--workers", type=int, default=None, help="model server workers (default: one per CPU, as in the DLC)"
    )
    serve.add_argument("--int8", action="store_true", help="serve with int8 dynamic quantization (TEXTCLF_QUANTIZE)")
    serve.set_defaults(handler=_lazy("cli.serve", "run_serve"))

    invoke = commands.add_parser("invoke", help="send texts to an endpoint's /invocations and print the answer")
    invoke.add_argument("texts", nargs="+", help="one or more texts to classify")
    invoke.add_argument("--url", default="http://127.0.0.1:8080", help="endpoint base URL (default: local)")
    invoke.add_argument("--top-k", type=int, default=None, help="return the k best labels per text")
    invoke.set_defaults(handler=_lazy("cli.serve", "run_invoke"))

    from cli import base_model, batch, bootstrap_policy, charts, cost, dataset, local_run, pipeline_ops, status
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
    batch.add_parser(commands)

    return parser


def _lazy(module: str, function: str):
    """Import a command's module only when it runs, so `--help` stays fast."""

    def run(args: argparse.Namespace) -> int:
        import importlib

        return getattr(importlib.import_module(module), function)(args)

    return run


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
