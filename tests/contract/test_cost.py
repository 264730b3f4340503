"""The cost receipt's arithmetic, the price table and its overrides, and the worker's settings."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from reelsight import envvars
from reelsight.contract.cost import (
    ON_DEMAND_PRICES,
    OVERRIDE_SOURCE,
    PRICE_SOURCE,
    CostReceipt,
    PriceError,
    parse_prices,
    prices_json,
    receipt_for,
    receipt_from_environment,
)
from reelsight.contract.jobs import decode_item, encode_item
from reelsight.contract.processing import ProcessingJobDefinition, create_processing_job_request
from reelsight.contract.summary import RunSummary, ShortSummary, Timings
from reelsight.estimate import receipt_line
from stacks.config import ConfigError, config_from_context

RECEIPT_FIELDS = {
    "instance_type",
    "region",
    "price_per_hour",
    "price_source",
    "worker_seconds",
    "frames",
    "video_seconds",
    "cost",
    "cost_per_video_hour",
}


def _summary(total: float = 90.0, duration: float = 600.0, frames: int = 600) -> RunSummary:
    return RunSummary(
        video={"uri": "s3://in/clip.mp4", "duration": duration},
        model={"name": "maskrcnn"},
        frames_sampled=frames,
        timings=Timings(total=total, model_load=0.0, decode=12.5, inference=70.25, write=7.25),
    )


def test_the_table_holds_the_cited_us_east_1_prices() -> None:
    assert ON_DEMAND_PRICES == {
        ("us-east-1", "ml.g4dn.xlarge"): 0.7364,
        ("us-east-1", "ml.g5.xlarge"): 1.4084,
        ("us-east-1", "ml.g6.2xlarge"): 1.222,
    }
    assert PRICE_SOURCE.startswith("AWS SageMaker AI pricing (https://aws.amazon.com/sagemaker/pricing/)")
    assert "on-demand" in PRICE_SOURCE and "us-east-1" in PRICE_SOURCE


def test_receipt_fields_add_up() -> None:
    summary = _summary()
    receipt = receipt_for(summary, instance_type="ml.g4dn.xlarge", region="us-east-1", prices={})
    data = receipt.to_json()
    assert set(data) == RECEIPT_FIELDS
    assert set(data["worker_seconds"]) == {"model_load", "decode", "inference", "total"}
    assert data["worker_seconds"] == {"model_load": 0.0, "decode": 12.5, "inference": 70.25, "total": 90.0}
    assert (data["price_per_hour"], data["price_source"]) == (0.7364, PRICE_SOURCE)
    assert (data["frames"], data["video_seconds"]) == (600, 600.0)
    assert receipt.cost == pytest.approx(0.7364 * 90.0 / 3600)
    assert receipt.cost_per_video_hour == pytest.approx(receipt.cost / (600.0 / 3600))
    assert receipt.cost_per_video_hour == pytest.approx(0.7364 * 90.0 / 600.0)  # 90 s of work per 600 s


def test_an_override_wins_in_any_region_and_says_so() -> None:
    receipt = receipt_for(
        _summary(total=3600.0),
        instance_type="ml.g4dn.xlarge",
        region="eu-west-1",
        prices={"ml.g4dn.xlarge": 0.8},
    )
    assert (receipt.price_per_hour, receipt.price_source, receipt.cost) == (0.8, OVERRIDE_SOURCE, 0.8)


@pytest.mark.parametrize(
    ("instance_type", "region", "reason"),
    [
        ("ml.p3.2xlarge", "us-east-1", "no price for ml.p3.2xlarge in us-east-1"),
        ("ml.g4dn.xlarge", "eu-west-1", "no price for ml.g4dn.xlarge in eu-west-1"),
        ("ml.g4dn.xlarge", None, "no price for ml.g4dn.xlarge in an unknown region"),
        (None, "us-east-1", f"{envvars.INSTANCE_TYPE} is unset"),
    ],
)
def test_a_missing_price_gives_no_cost_and_a_reason(
    instance_type: str | None, region: str | None, reason: str
) -> None:
    receipt = receipt_for(_summary(), instance_type=instance_type, region=region)
    assert receipt.price_per_hour is None and receipt.cost is None and receipt.cost_per_video_hour is None
    assert reason in receipt.price_source
    assert receipt.worker_seconds.total == 90.0 and receipt.frames == 600  # still a record of the work
    assert "cost: unknown" in (receipt_line(_with(receipt)) or "")


def test_an_unknown_duration_gives_no_cost_per_video_hour() -> None:
    receipt = receipt_for(_summary(duration=0.0), instance_type="ml.g5.xlarge", region="us-east-1")
    assert receipt.cost == pytest.approx(1.4084 * 90 / 3600) and receipt.cost_per_video_hour is None


def _with(receipt: CostReceipt) -> dict[str, Any]:
    summary = _summary()
    summary.receipt = receipt
    return summary.short().to_json()


def test_the_receipt_survives_json_the_short_form_and_dynamodb() -> None:
    summary = _summary()
    summary.receipt = receipt_for(summary, instance_type="ml.g6.2xlarge", region="us-east-1")
    again = RunSummary.from_json(json.loads(json.dumps(summary.to_json())))
    assert again.receipt == summary.receipt
    short = summary.short()
    assert short.receipt == summary.receipt
    stored = decode_item(encode_item({"summary": short.to_json()}))["summary"]
    assert ShortSummary.from_json(stored).receipt == summary.receipt
    unpriced = receipt_for(summary, instance_type=None, region=None)  # DynamoDB drops its None fields
    summary.receipt = unpriced
    stored = decode_item(encode_item({"summary": summary.short().to_json()}))["summary"]
    assert "cost" not in stored["receipt"] and ShortSummary.from_json(stored).receipt == unpriced
    assert RunSummary().to_json()["receipt"] is None and RunSummary.from_json({}).receipt is None


def test_receipt_line() -> None:
    summary = _summary()
    summary.receipt = receipt_for(summary, instance_type="ml.g4dn.xlarge", region="us-east-1")
    line = receipt_line(summary.short().to_json())
    assert line == ("cost: $0.0184 for 90.0 worker s on ml.g4dn.xlarge at $0.7364/h, $0.11 per video hour"), (
        line
    )
    assert receipt_line({"frames_sampled": 1}) is None and receipt_line(None) is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", "must be a JSON object"),
        ("[0.8]", "must be a JSON object"),
        ('{"g4dn.xlarge": 0.8}', "not a SageMaker instance type"),
        ('{"ml.g4dn.xlarge": "0.8"}', "must be a number"),
        ('{"ml.g4dn.xlarge": true}', "must be a number"),
        ('{"ml.g4dn.xlarge": 0}', "must be in (0, 1000]"),
        ('{"ml.g4dn.xlarge": -1.5}', "must be in (0, 1000]"),
        ('{"ml.g4dn.xlarge": NaN}', "must be in (0, 1000]"),
        ('{"ml.g4dn.xlarge": Infinity}', "must be in (0, 1000]"),
        ('{"ml.g4dn.xlarge": 1e9}', "must be in (0, 1000]"),
    ],
)
def test_price_overrides_are_validated(raw: str, message: str) -> None:
    with pytest.raises(PriceError, match=message.replace("(", r"\(").replace("]", r"\]")):
        parse_prices(raw)


def test_valid_overrides_parse_from_text_or_a_mapping() -> None:
    assert parse_prices(None) == parse_prices("") == parse_prices("  ") == {}
    assert parse_prices('{"ml.g5.xlarge": 2, "ml.g4dn.xlarge": 0.8}') == {
        "ml.g5.xlarge": 2.0,
        "ml.g4dn.xlarge": 0.8,
    }
    assert prices_json(parse_prices({"ml.g5.xlarge": 2, "ml.g4dn.xlarge": 0.8})) == (
        '{"ml.g4dn.xlarge":0.8,"ml.g5.xlarge":2.0}'
    )


def test_the_worker_reads_its_instance_type_region_and_prices_from_its_environment() -> None:
    summary = _summary()
    env = {envvars.INSTANCE_TYPE: "ml.g5.xlarge", "AWS_DEFAULT_REGION": "us-east-1"}
    assert receipt_from_environment(summary, env).price_per_hour == 1.4084
    env["AWS_REGION"] = "eu-west-1"  # AWS_REGION wins, and the table has no eu-west-1 price
    assert receipt_from_environment(summary, env).cost is None
    env[envvars.PRICES] = '{"ml.g5.xlarge": 1.5}'
    assert receipt_from_environment(summary, env).price_per_hour == 1.5
    env[envvars.PRICES] = '{"ml.g5.xlarge": -1}'  # a bad override does not fail the run
    bad = receipt_from_environment(summary, env)
    assert bad.cost is None and bad.instance_type == "ml.g5.xlarge" and "must be in" in bad.price_source


def _context(**values: Any) -> Any:
    return lambda key: values.get(key)


def test_the_prices_context_reaches_the_endpoint_and_the_processing_job() -> None:
    config = config_from_context(_context(prices='{"ml.g4dn.xlarge": 0.80}'))
    assert config.endpoint.prices == config.processing.prices == '{"ml.g4dn.xlarge":0.8}'
    assert (
        config_from_context(_context(prices={"ml.g4dn.xlarge": 0.8})).endpoint.prices
        == config.endpoint.prices
    )
    assert config_from_context(_context()).endpoint.prices == ""
    with pytest.raises(ConfigError, match="context 'prices': prices: ml.g4dn.xlarge: the price must be in"):
        config_from_context(_context(prices='{"ml.g4dn.xlarge": -0.8}'))
    definition = ProcessingJobDefinition(
        role_arn="arn:aws:iam::123456789012:role/r",
        image_uri="img",
        instance_type="ml.g5.xlarge",
        results_bucket="results",
        prices=config.processing.prices,
    )
    again = ProcessingJobDefinition.from_json(definition.to_json())
    request = create_processing_job_request(
        again, job_id="j1", input_location="s3://in/v.mp4", environment={}
    )
    assert request["Environment"][envvars.INSTANCE_TYPE] == "ml.g5.xlarge"
    assert json.loads(request["Environment"][envvars.PRICES]) == {"ml.g4dn.xlarge": 0.8}
    plain = ProcessingJobDefinition(
        role_arn="r", image_uri="i", instance_type="ml.g4dn.xlarge", results_bucket="b"
    )
    environment = create_processing_job_request(plain, job_id="j", input_location="s3://b/k", environment={})[
        "Environment"
    ]
    assert envvars.PRICES not in environment and environment[envvars.INSTANCE_TYPE] == "ml.g4dn.xlarge"
    assert math.isclose(json.loads(prices_json({"ml.g4dn.xlarge": 0.8}))["ml.g4dn.xlarge"], 0.8)
