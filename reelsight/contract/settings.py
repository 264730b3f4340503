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


def env_seconds(environ: Mapping[str, str], name: str, *, default: float) -> float:
    """A positive number of seconds (below 1e9); unset or blank means ``default``; ParamError otherwise."""
    text = (environ.get(name) or "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ParamError(f"environment variable {name} must be a number of seconds, got {text!r}") from None
    if not 0 < value < 1e9:
        raise ParamError(f"environment variable {name} must be a positive number of seconds, got {text!r}")
    return value
