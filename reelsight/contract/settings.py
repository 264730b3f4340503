"""Reading settings from the environment, the same way in every process (stdlib only)."""

from __future__ import annotations

from collections.abc import Mapping

from reelsight.errors import ParamError


def env_int(environ: Mapping[str, str], name: str, *, default: int, low: int, high: int) -> int:
    """An integer variable in ``low..high``; unset or blank means ``default``.

    A malformed or out-of-range value raises ``ParamError`` naming the variable and the range, so a
    misconfigured deployment stops at start-up instead of running with a value nobody chose.
    """
    raw = (environ.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ParamError(
            f"environment variable {name} must be an integer {low}..{high}, got {raw!r}"
        ) from None
    if not low <= value <= high:
        raise ParamError(f"environment variable {name} must be {low}..{high}, got {value}")
    return value
