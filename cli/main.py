"""Entry point of the `textclf` command."""

from __future__ import annotations

import argparse
import sys

from cli import synth_report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="textclf", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    synth = commands.add_parser(
        "synth", help="synthesize stages with the real CDK CLI and summarize stacks, cdk-nag and cfn-lint",
        description="Run `cdk synth` offline, then print stacks, resources by type, cdk-nag and cfn-lint results.",
    )
    synth.add_argument("--stage", default="all", help="dev, staging, prod, a comma list, or all (default: all)")
    synth.add_argument("--outdir", default="cdk.out", help="cloud assembly directory (default: cdk.out)")
    synth.set_defaults(handler=synth_report.run)

    bench = commands.add_parser("bench", help="run a benchmark and write its table to docs/")
    bench.add_argument("name", choices=["synth", "train"], help="synth: CDK synth time; train: training throughput")
    bench.add_argument("--repeats", type=int, default=3, help="synth: timed runs per variant; the median is reported")
    bench.set_defaults(handler=_run_bench)
    return parser


def _run_bench(args: argparse.Namespace) -> int:
    if args.name == "train":
        from benchmarks import train_bench

        return train_bench.main()
    from benchmarks import synth_bench

    return synth_bench.main(repeats=args.repeats)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
