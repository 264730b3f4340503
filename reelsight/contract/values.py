"""Numbers that cross a boundary: run options that users send, and values that other components stored.

Standard library only. Every numeric run option has one accepted range here (``OPTION_RANGES``);
the option resolution checks each value against it on every route (upload metadata, custom
attributes, a Processing job's options, ``reelsight run``), so NaN, infinities and absurd
magnitudes are refused with the range in the message before anything computes with them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from reelsight.errors import ParamError

_SHOWN_CHARACTERS = 40  # of a refused value, so a message never echoes a huge input

MAX_SECONDS = 10_000_000  # about 115 days of video
MAX_FRAMES = 10_000_000
MAX_SIDE = 16384  # pixels; also the largest side of a resize target
MAX_BATCH = 1024


def _number_text(value: float) -> str:
    """``1000``, ``0.5``, ``0.00001``: plain decimals, never ``1e-05``."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.10f}".rstrip("0")


def _shown(value: object) -> str:
    if isinstance(value, int) and abs(value).bit_length() > 128:  # repr would be huge, or refused
        return f"an integer of about {int(abs(value).bit_length() * math.log10(2)) + 1} digits"
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARACTERS else f"{text[: _SHOWN_CHARACTERS - 3]}..."


@dataclass(frozen=True)
class NumberRange:
    """An inclusive range ``low..high`` of accepted values, whole numbers only when ``integer``."""

    low: float
    high: float
    unit: str = ""
    integer: bool = False

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        unit = f" {self.unit}" if self.unit else ""
        return f"{kind} from {_number_text(self.low)} to {_number_text(self.high)}{unit}"

    def contains(self, value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if isinstance(value, int):
            return self.low <= value <= self.high  # exact, however large (no float conversion)
        return not self.integer and math.isfinite(value) and self.low <= value <= self.high

    def check(self, name: str, value: Any) -> Any:
        """``value`` when it is in range; ``ParamError`` naming ``name`` and the range otherwise."""
        if not self.contains(value):
            raise ParamError(f"{name} must be {self.describe()}, got {_shown(value)}")
        return value

    def parse(self, name: str, text: str) -> int | float:
        """``text`` as a number in range (``int`` when ``integer``); ``ParamError`` otherwise."""
        try:
            value: int | float = int(text) if self.integer else float(text)
        except ValueError:
            raise ParamError(f"{name} must be {self.describe()}, got {_shown(text)}") from None
        if not self.contains(value):
            raise ParamError(f"{name} must be {self.describe()}, got {_shown(text)}")
        return value


# Every numeric run option, by its override key. A demanding user's values fit: one sample per
# 100000 s (a day and more) up to 1000 per second (high-speed cameras), months of video, 16K frames.
OPTION_RANGES: Mapping[str, NumberRange] = MappingProxyType(
    {
        "fps": NumberRange(0.00001, 1000, "samples per second"),
        "every_seconds": NumberRange(0.001, 100_000, "seconds"),
        "start": NumberRange(0, MAX_SECONDS, "seconds"),
        "end": NumberRange(0, MAX_SECONDS, "seconds"),
        "max_frames": NumberRange(1, MAX_FRAMES, "frames", integer=True),
        "size": NumberRange(1, MAX_SIDE, "pixels per side", integer=True),
        "batch_size": NumberRange(1, MAX_BATCH, "frames", integer=True),
        "score_threshold": NumberRange(0, 1),
        # Flags of `reelsight run`: the detectors' internal resize, and the seed of random weights.
        "min_size": NumberRange(32, MAX_SIDE, "pixels", integer=True),
        "max_size": NumberRange(32, MAX_SIDE, "pixels", integer=True),
        "seed": NumberRange(0, 2**32 - 1, integer=True),
    }
)


def check_option(name: str, value: Any) -> Any:
    """``value`` when it is in ``OPTION_RANGES[name]``; ``ParamError`` with the range otherwise."""
    return OPTION_RANGES[name].check(name, value)


def parse_option(name: str, text: str) -> int | float:
    """``text`` parsed and checked against ``OPTION_RANGES[name]``."""
    return OPTION_RANGES[name].parse(name, text)


def non_negative_number(value: Any) -> float | None:
    """A finite, non-negative number as a float (DynamoDB's Decimal too; bools and text are not)."""
    if value is None or isinstance(value, bool | str):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number >= 0 else None
