"""Command-line flags that map onto run options, shared by ``run``, ``process`` and the MXNet runner.

Values go through ``RunOptions.with_overrides`` as strings, so every entry point (CLI, worker custom
attributes, S3 metadata) parses and validates them the same way.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping

# RunOptions.with_overrides keys that have a flag of the same dest name.
RUN_OPTION_KEYS: tuple[str, ...] = (
    "model",
    "weights",
    "fps",
    "every_seconds",
    "start",
    "end",
    "max_frames",
    "mode",
    "resize",
    "size",
    "backend",
    "batch_size",
    "device",
    "precision",
    "score_threshold",
    "include",
)


def flag_overrides(args: argparse.Namespace, *, dests: Mapping[str, str] | None = None) -> dict[str, str]:
    """The run options given as flags; ``dests`` maps a key to its argparse dest where they differ."""
    dests = dests or {}
    overrides: dict[str, str] = {}
    for key in RUN_OPTION_KEYS:
        value = getattr(args, dests.get(key, key), None)
        if value is not None:
            overrides[key] = str(value)
    return overrides
