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
    "track",
)


def add_track_flag(group: argparse._ArgumentGroup | argparse.ArgumentParser) -> None:
    """``--track``: follow objects across frames; tracking samples at its own rate unless one is given."""
    from reelsight.contract.options import TRACK_FPS

    group.add_argument(
        "--track",
        action="store_const",
        const="true",
        help="follow each object across frames with ByteTrack: track_ids in frames.jsonl, tracks.jsonl, "
        f"unique objects per class; samples at {TRACK_FPS:g} fps unless a rate is given "
        "(detection and instance segmentation models only)",
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


# Flags of `reelsight run` that are not run options but numbers all the same; their ranges are the
# contract's (`reelsight.contract.values.OPTION_RANGES`).
RANGED_FLAGS: tuple[str, ...] = ("min_size", "max_size", "seed")


def check_flag_ranges(args: argparse.Namespace, flags: tuple[str, ...] = RANGED_FLAGS) -> None:
    """ParamError naming the flag and its range when a numeric flag that was given is out of range."""
    from reelsight.contract.values import OPTION_RANGES

    for dest in flags:
        value = getattr(args, dest, None)
        if value is not None:
            OPTION_RANGES[dest].check("--" + dest.replace("_", "-"), value)
