"""`python -m benchmarks NAME`: run one benchmark, print its table and write it to docs/.

Benchmarks sit on top of the CLI and the stacks; nothing imports them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# Beside the checkout on the machines this project is developed on; users name their own copies.
SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=(__doc__ or "").partition("\n")[0])
    parser.add_argument(
        "name",
        choices=["synth", "train", "serve", "load", "scaling", "data", "signals", "robustness", "suite"],
        help="synth: CDK synth time; train: training throughput; serve: endpoint handler vs default; "
        "load: 32 and 64 clients with the stages' JVM heap cap vs the DLC's default; "
        "scaling: 1, 2 and 4 rehearsed training instances; data: training data memory, whole vs indexed; "
        "signals: handler time with the monitor's per-text signal lines vs without; "
        "robustness: SST-2 and long out-of-domain reviews per long-text strategy, with and without calibration; "
        "suite: make test's pytest on both cores vs serially, and its cost by module",
    )
    parser.add_argument(
        "--variant",
        action="append",
        choices=["serial", "parallel"],
        help="suite: run only this variant (repeatable; default: both, serial first)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="synth: timed runs per variant; the median is reported")
    parser.add_argument(
        "--model",
        default=None,
        help="serve, load, signals: model directory to serve (default: fine-tune MiniLM on the bundled sample)",
    )
    parser.add_argument(
        "--data",
        default=None,
        help="serve: labelled CSV (text,label) to send (default: the bundled SST-2 validation sample)",
    )
    parser.add_argument(
        "--sst2",
        default=str(SHARED_DATA / "sst2"),
        help="robustness: SST-2's train.csv, dev.csv and test_labeled.csv (default: ../shared/data/sst2)",
    )
    parser.add_argument(
        "--imdb",
        default=str(SHARED_DATA / "imdb_train_sample"),
        help="robustness: labelled long reviews, text,label (default: ../shared/data/imdb_train_sample)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.name == "serve":
        from benchmarks import serve_bench

        return serve_bench.main(model=args.model, data=args.data)
    if args.name == "load":
        from benchmarks import load_bench

        return load_bench.main(model=args.model)
    if args.name == "robustness":
        from benchmarks import robustness_bench

        return robustness_bench.main(sst2=args.sst2, imdb=args.imdb)
    if args.name == "signals":
        from benchmarks import signals_bench

        return signals_bench.main(model=args.model)
    if args.name == "scaling":
        from benchmarks import scaling_bench

        return scaling_bench.main()
    if args.name == "data":
        from benchmarks import data_memory_bench

        return data_memory_bench.main()
    if args.name == "suite":
        from benchmarks import suite_bench

        return suite_bench.main(args.variant)
    if args.name == "train":
        from benchmarks import train_bench

        return train_bench.main()
    from benchmarks import synth_bench

    return synth_bench.main(repeats=args.repeats)


if __name__ == "__main__":
    sys.exit(main())
