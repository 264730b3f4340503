"""What a run cost: the on-demand price table, the deployment's price overrides and the cost receipt.

Every run summary carries a :class:`CostReceipt` (``summary.json``'s and the short summary's
``receipt``): the instance type and region the worker ran on, the price per hour it was charged at
and where that price comes from, the worker seconds, the frames and the video seconds, and from
those the cost (``price_per_hour * worker_seconds.total / 3600``) and the cost per hour of video.

Prices come from one table, :data:`ON_DEMAND_PRICES` (USD per hour per region and instance type,
source :data:`PRICE_SOURCE`), unless the deployment overrides them: the CDK context ``prices``
(``{"ml.g4dn.xlarge": 0.80}``, USD per hour per instance type, any region) reaches the worker as
:data:`reelsight.envvars.PRICES`. The table holds only figures read off the pricing page; a type or
region it does not list gives a receipt whose ``cost`` is None and whose ``price_source`` says why.
See docs/deploy.md (the table, its source and the ``prices`` key) and docs/results-format.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from reelsight import envvars
from reelsight.contract.values import non_negative_number

if TYPE_CHECKING:
    from reelsight.contract.summary import RunSummary

PRICE_DATE = "2026-12-01"
PRICE_SOURCE = (
    "AWS SageMaker AI pricing (https://aws.amazon.com/sagemaker/pricing/), on-demand, "
    f"real-time/asynchronous inference, us-east-1, figures recorded {PRICE_DATE[:7]}"
)
OVERRIDE_SOURCE = f"the deployment's price override (CDK context 'prices', {envvars.PRICES})"
# USD per instance-hour, on demand, by (region, instance type): only figures read off the page above.
ON_DEMAND_PRICES: Mapping[tuple[str, str], float] = MappingProxyType(
    {
        ("us-east-1", "ml.g4dn.xlarge"): 0.7364,
        ("us-east-1", "ml.g5.xlarge"): 1.4084,
        ("us-east-1", "ml.g6.2xlarge"): 1.222,
    }
)
MAX_PRICE_PER_HOUR = 1000.0  # above any SageMaker instance's on-demand price: a typo, not a price
SECONDS_DECIMALS = 4
REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION")


class PriceError(ValueError):
    """A price override is not a JSON object of instance types to positive, finite USD per hour."""


def parse_prices(raw: str | Mapping[str, Any] | None) -> dict[str, float]:
    """The price overrides in ``raw`` (JSON text or a mapping; empty or None: none), validated."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    data: Any = raw
    if isinstance(raw, str):
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as error:
            raise PriceError(
                f'prices must be a JSON object such as {{"ml.g4dn.xlarge": 0.80}}: {error}'
            ) from None
    if not isinstance(data, Mapping):
        raise PriceError(f"prices must be a JSON object of instance type to USD per hour, got {data!r}")
    return {_instance_type(key): _price(key, value) for key, value in data.items()}


def _instance_type(key: Any) -> str:
    if not isinstance(key, str) or not key.startswith("ml.") or key.count(".") < 2:
        raise PriceError(f"prices: {key!r} is not a SageMaker instance type such as ml.g4dn.xlarge")
    return key


def _price(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PriceError(f"prices: {key}: the price must be a number of USD per hour, got {value!r}")
    price = float(value)
    if not math.isfinite(price) or not 0 < price <= MAX_PRICE_PER_HOUR:
        raise PriceError(
            f"prices: {key}: the price must be in (0, {MAX_PRICE_PER_HOUR:g}] USD per hour, got {value!r}"
        )
    return price


def prices_json(prices: Mapping[str, float]) -> str:
    """The overrides as the worker reads them from :data:`reelsight.envvars.PRICES` (canonical JSON)."""
    return json.dumps(dict(sorted(prices.items())), separators=(",", ":"))


def price_for(
    instance_type: str | None, region: str | None, prices: Mapping[str, float] | None = None
) -> tuple[float | None, str]:
    """(USD per hour, its source); (None, the reason) when there is no price for that type and region."""
    if not instance_type:
        return None, f"no instance type known ({envvars.INSTANCE_TYPE} is unset, as in a local run): no price"
    if prices and instance_type in prices:
        return prices[instance_type], OVERRIDE_SOURCE
    listed = ON_DEMAND_PRICES.get((region or "", instance_type))
    if listed is not None:
        return listed, PRICE_SOURCE
    return None, (
        f"no price for {instance_type} in {region or 'an unknown region'}: reelsight's table lists "
        f"{', '.join(f'{t} in {r}' for r, t in ON_DEMAND_PRICES)}; set one with the CDK context 'prices'"
    )


def _seconds(value: Any) -> float:
    number = non_negative_number(value)
    return round(number, SECONDS_DECIMALS) if number is not None else 0.0


def cost_of(price_per_hour: float | None, worker_seconds: float) -> float | None:
    """What ``worker_seconds`` of an instance cost at ``price_per_hour``; None without a price."""
    return price_per_hour * worker_seconds / 3600 if price_per_hour is not None else None


def _optional_text(value: Any) -> str | None:
    return str(value) if value else None


@dataclass(frozen=True)
class WorkerSeconds:
    """Wall-clock seconds the worker spent on the run (the summary's timings, 4 decimals)."""

    model_load: float = 0.0
    decode: float = 0.0
    inference: float = 0.0
    total: float = 0.0

    def to_json(self) -> dict[str, float]:
        return {
            "model_load": self.model_load,
            "decode": self.decode,
            "inference": self.inference,
            "total": self.total,
        }

    @classmethod
    def from_json(cls, data: Any) -> WorkerSeconds:
        data = data if isinstance(data, Mapping) else {}
        return cls(
            **{name: _seconds(data.get(name)) for name in ("model_load", "decode", "inference", "total")}
        )


@dataclass(frozen=True)
class CostReceipt:
    """What one run cost. ``cost`` and ``cost_per_video_hour`` are None when there is no price (then
    ``price_source`` says why) or, for the latter, when the video's duration is unknown."""

    instance_type: str | None
    region: str | None
    price_per_hour: float | None
    price_source: str
    worker_seconds: WorkerSeconds = field(default_factory=WorkerSeconds)
    frames: int = 0
    video_seconds: float = 0.0
    cost: float | None = None
    cost_per_video_hour: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "instance_type": self.instance_type,
            "region": self.region,
            "price_per_hour": self.price_per_hour,
            "price_source": self.price_source,
            "worker_seconds": self.worker_seconds.to_json(),
            "frames": self.frames,
            "video_seconds": self.video_seconds,
            "cost": self.cost,
            "cost_per_video_hour": self.cost_per_video_hour,
        }

    @classmethod
    def from_json(cls, data: Any) -> CostReceipt | None:
        """A stored receipt (DynamoDB leaves out its None fields); None when ``data`` is not one."""
        if not isinstance(data, Mapping) or "price_source" not in data:
            return None
        frames = non_negative_number(data.get("frames"))
        return cls(
            instance_type=_optional_text(data.get("instance_type")),
            region=_optional_text(data.get("region")),
            price_per_hour=non_negative_number(data.get("price_per_hour")),
            price_source=str(data.get("price_source")),
            worker_seconds=WorkerSeconds.from_json(data.get("worker_seconds")),
            frames=int(frames) if frames is not None else 0,
            video_seconds=_seconds(data.get("video_seconds")),
            cost=non_negative_number(data.get("cost")),
            cost_per_video_hour=non_negative_number(data.get("cost_per_video_hour")),
        )


def receipt_for(
    summary: RunSummary,
    *,
    instance_type: str | None,
    region: str | None,
    prices: Mapping[str, float] | None = None,
) -> CostReceipt:
    """The receipt of ``summary``'s run on ``instance_type`` in ``region`` (``prices`` override the table)."""
    timings = summary.timings
    seconds = WorkerSeconds(
        model_load=_seconds(timings.model_load),
        decode=_seconds(timings.decode),
        inference=_seconds(timings.inference),
        total=_seconds(timings.total),
    )
    video_seconds = _seconds(summary.video.get("duration"))
    price, source = price_for(instance_type, region, prices)
    cost = cost_of(price, seconds.total)
    per_video_hour = cost / (video_seconds / 3600) if cost is not None and video_seconds > 0 else None
    return CostReceipt(
        instance_type=instance_type or None,
        region=region or None,
        price_per_hour=price,
        price_source=source,
        worker_seconds=seconds,
        frames=summary.frames_sampled,
        video_seconds=video_seconds,
        cost=cost,
        cost_per_video_hour=per_video_hour,
    )


def receipt_from_environment(summary: RunSummary, environ: Mapping[str, str]) -> CostReceipt:
    """The worker's receipt: the instance type, region and price overrides from its environment. Bad
    overrides do not fail the run: the receipt then has no price and says why."""
    instance_type = environ.get(envvars.INSTANCE_TYPE) or None
    region = next((environ[name] for name in REGION_VARIABLES if environ.get(name)), None)
    try:
        prices = parse_prices(environ.get(envvars.PRICES))
    except PriceError as error:
        receipt = receipt_for(summary, instance_type=None, region=region)
        return replace(receipt, instance_type=instance_type, price_source=str(error))
    return receipt_for(summary, instance_type=instance_type, region=region, prices=prices)
