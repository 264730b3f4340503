"""Reading numbers that other components stored (JSON, DynamoDB) defensively (standard library only)."""

from __future__ import annotations

import math
from typing import Any


def non_negative_number(value: Any) -> float | None:
    """A finite, non-negative number as a float (DynamoDB's Decimal too; bools and text are not)."""
    if value is None or isinstance(value, bool | str):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number >= 0 else None
