"""`textclf cost`: one training run and a million serverless requests for a stage, from a dated price table."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from cli.errors import non_negative, one_stage
from cli.pipeline_ops import stage_config
from stacks.config import ConfigError, StageConfig

PRICES = Path(__file__).with_name("prices.json")
# A request and its answer: a few sentences of JSON each way.
PAYLOAD_KB_EACH_WAY = 1.0


@dataclass(frozen=True)
class Estimate:
    on_demand: float
    spot_low: float
    spot_high: float
    per_million_requests: float


def estimate(
    config: StageConfig, prices: dict, *, hours: float, request_ms: float, evaluation_hours: float
) -> Estimate:
    training = _price(prices["training_per_instance_hour"], config.training_instance_type, "training_instance_type")
    processing = _price(
        prices["processing_per_instance_hour"], config.processing_instance_type, "processing_instance_type"
    )
    train = training * config.training_instance_count * hours
    evaluate = processing * evaluation_hours
    spot = prices["spot_price_fraction"]
    trained_on_spot = (train * spot["low"], train * spot["high"]) if config.use_spot else (train, train)
    compute = 1e6 * request_ms / 1000 * config.serverless_memory_mb / 1024 * prices["serverless_per_gb_second"]
    data = 1e6 * 2 * PAYLOAD_KB_EACH_WAY / 1024 / 1024 * prices["serverless_data_per_gb"]
    return Estimate(train + evaluate, trained_on_spot[0] + evaluate, trained_on_spot[1] + evaluate, compute + data)


def run(args: argparse.Namespace) -> int:
    config = stage_config(args.stage)
    prices = json.loads(PRICES.read_text())
    result = estimate(
        config, prices, hours=args.hours, request_ms=args.request_ms, evaluation_hours=args.evaluation_hours
    )
    spot_note = "managed spot" if config.use_spot else "spot is off for this stage: same as on demand"
    print(
        f"Estimated cost for stage {config.name} ({prices['currency']}, prices of {prices['date']}, {prices['region']})"
    )
    print(f"Source: {prices['source']}.")
    print()
    print("| item | estimate |")
    print("|---|---:|")
    print(
        f"| one training run, on demand: {config.training_instance_count} x {config.training_instance_type} "
        f"for {args.hours:g} h + evaluation on {config.processing_instance_type} for {args.evaluation_hours:g} h "
        f"| ${result.on_demand:,.2f} |"
    )
    print(f"| the same run with {spot_note} | ${result.spot_low:,.2f} - ${result.spot_high:,.2f} |")
    print(
        f"| serverless endpoint, per million requests at {config.serverless_memory_mb} MB and "
        f"{args.request_ms:g} ms each | ${result.per_million_requests:,.2f} |"
    )
    print()
    print(
        f"Spot range: {prices['spot_price_fraction']['basis']}. Serverless: billed GB-seconds plus "
        f"{PAYLOAD_KB_EACH_WAY:g} KB in and out per request; provisioned concurrency "
        f"({config.serverless_provisioned_concurrency} for this stage) is billed separately and not included."
    )
    if config.serving_mode == "realtime":
        print(
            f"This stage serves on instances (serving_mode realtime): the serverless row does not apply. Its cost is "
            f"{config.realtime_min_instances}-{config.realtime_max_instances} x {config.realtime_instance_type} "
            f"per hour, whose real-time inference price {PRICES.name} does not record."
        )
    return 0


def _price(table: dict, instance_type: str, field: str) -> float:
    if instance_type not in table:
        raise ConfigError(
            f"{field}: no price for {instance_type} in {PRICES.name}. "
            f"Fix: add it, or use one of {', '.join(sorted(table))}."
        )
    return table[instance_type]


def add_parser(commands) -> None:
    cost = commands.add_parser(
        "cost",
        help="estimate a training run (on demand vs spot) and serverless serving cost",
        description=(__doc__ or "").partition("\n")[0],
    )
    cost.add_argument("--stage", type=one_stage, default="dev", help="dev, staging or prod (default: dev)")
    cost.add_argument("--hours", type=non_negative, default=1.0, help="training wall time in hours (default: 1)")
    cost.add_argument(
        "--evaluation-hours",
        type=non_negative,
        default=0.25,
        help="evaluation processing job wall time in hours (default: 0.25)",
    )
    cost.add_argument(
        "--request-ms",
        type=non_negative,
        default=50.0,
        help="billed duration of one serverless request in ms (default: 50)",
    )
    cost.set_defaults(handler=run)
