"""`textclf cost`: arithmetic on the dated price table, and a clear error for an unpriced instance type."""

from __future__ import annotations

import dataclasses
import json

import pytest

from cli import cost
from cli.main import main
from cli.pipeline_ops import stage_config

PRICES = json.loads(cost.PRICES.read_text())


def test_training_run_on_demand_and_on_spot():
    dev = stage_config("dev")  # 1 x ml.g5.xlarge, spot on, evaluation on ml.m5.xlarge
    result = cost.estimate(dev, PRICES, hours=2, request_ms=50, evaluation_hours=0.5)
    train = PRICES["training_per_instance_hour"]["ml.g5.xlarge"] * 2
    evaluate = PRICES["processing_per_instance_hour"]["ml.m5.xlarge"] * 0.5
    assert result.on_demand == pytest.approx(train + evaluate)
    assert result.spot_low == pytest.approx(train * 0.3 + evaluate)
    assert result.spot_high == pytest.approx(train * 0.7 + evaluate)
    on_demand_only = cost.estimate(
        dataclasses.replace(dev, use_spot=False), PRICES, hours=2, request_ms=50, evaluation_hours=0.5
    )
    assert on_demand_only.spot_low == on_demand_only.spot_high == on_demand_only.on_demand


def test_serverless_cost_scales_with_memory_and_duration():
    dev = stage_config("dev")  # 2048 MB
    per_million = cost.estimate(dev, PRICES, hours=1, request_ms=50, evaluation_hours=0).per_million_requests
    compute = 1e6 * 0.05 * 2 * PRICES["serverless_per_gb_second"]
    assert per_million == pytest.approx(compute + 2 / 1024 * PRICES["serverless_data_per_gb"] * 1e6 / 1024)
    doubled = cost.estimate(
        dataclasses.replace(dev, serverless_memory_mb=4096), PRICES, hours=1, request_ms=50, evaluation_hours=0
    ).per_million_requests
    assert doubled - per_million == pytest.approx(compute)


def test_output_states_the_tables_date_and_source(capsys):
    assert main(["cost", "--stage", "prod"]) == 0
    out = capsys.readouterr().out
    assert f"prices of {PRICES['date']}" in out and "aws.amazon.com/sagemaker/pricing" in out
    assert "| the same run with managed spot | $" in out


def test_an_unpriced_instance_type_names_the_field():
    dev = dataclasses.replace(stage_config("dev"), training_instance_type="ml.p5.48xlarge")
    with pytest.raises(Exception, match=r"^training_instance_type: no price for ml.p5.48xlarge in prices.json"):
        cost.estimate(dev, PRICES, hours=1, request_ms=50, evaluation_hours=0)


def test_a_bad_stage_exits_2_with_one_line_naming_it(capsys):
    assert main(["cost", "--stage", "qa"]) == 2
    assert capsys.readouterr().err.startswith(
        "textclf cost: argument --stage: --stage takes one stage, dev, staging, prod"
    )


def test_a_realtime_stage_says_the_serverless_row_does_not_apply(monkeypatch, capsys):
    realtime = dataclasses.replace(stage_config("prod"), serving_mode="realtime")
    monkeypatch.setattr(cost, "stage_config", lambda name: realtime)
    assert main(["cost", "--stage", "prod"]) == 0
    out = capsys.readouterr().out
    assert "serving_mode realtime): the serverless row does not apply" in out
    assert "2-4 x ml.c6i.xlarge per hour" in out  # two instances at least: a linear step shifts whole ones
