"""Run parameters: how to sample a video and how to run a model on the samples.

Standard library only: the Lambdas and the MXNet image import this module too.
Every user-facing value is checked by ``validate()``, which raises ``ParamError``
with a message that names the parameter and what it accepts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, cast, get_args

from reelsight import envvars
from reelsight.contract.values import OPTION_RANGES, check_option, parse_option
from reelsight.errors import ParamError

Mode = Literal["exact", "keyframes"]
Resize = Literal["none", "fit", "stretch", "crop"]
Backend = Literal["pyav", "opencv"]

MODES: tuple[str, ...] = get_args(Mode)
RESIZES: tuple[str, ...] = get_args(Resize)
BACKENDS: tuple[str, ...] = get_args(Backend)
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")
INCLUDE_CHOICES = frozenset({"masks", "mask_pngs", "contact_sheet", "preview", "frames"})
DEFAULT_INCLUDE = frozenset({"masks", "contact_sheet"})

_DEVICE_RE = re.compile(r"^(auto|cpu|cuda|cuda:\d+)$")
_MODEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_SIZE_RE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")
_NONE_WORDS = frozenset({"", "none", "null"})
_TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
_FALSE_WORDS = frozenset({"false", "0", "no", "off"})


def _positive_finite(value: Any) -> bool:
    return (
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    )


@dataclass(frozen=True, kw_only=True)
class SamplingParams:
    """Which frames to take from a video, by presentation time, and how to size them.

    ``fps`` and ``every_seconds`` are two spellings of one rate; when ``every_seconds``
    is given it wins and ``fps`` becomes ``None``.
    """

    fps: float | None = 1.0
    every_seconds: float | None = None
    start: float = 0.0
    end: float | None = None
    max_frames: int | None = None
    mode: Mode = "exact"
    resize: Resize = "none"
    size: tuple[int, int] | None = None
    backend: Backend = "pyav"

    def __post_init__(self) -> None:
        if self.every_seconds is not None and self.fps is not None:
            object.__setattr__(self, "fps", None)
        if self.size is not None and not isinstance(self.size, tuple):
            object.__setattr__(self, "size", tuple(self.size))

    def validate(self) -> SamplingParams:
        """Every value in its range (``contract.values.OPTION_RANGES``) and every choice known."""
        if self.every_seconds is not None:
            check_option("every_seconds", self.every_seconds)
        elif self.fps is None:
            raise ParamError("one of fps or every_seconds is required")
        else:
            check_option("fps", self.fps)
        check_option("start", self.start)
        if self.end is not None:
            check_option("end", self.end)
            if self.end <= self.start:
                raise ParamError(f"end ({self.end}) must be greater than start ({self.start})")
        if self.max_frames is not None:
            check_option("max_frames", self.max_frames)
        _check_choice("mode", self.mode, MODES)
        _check_choice("resize", self.resize, RESIZES)
        _check_choice("backend", self.backend, BACKENDS)
        if self.size is not None:
            _check_size(self.size)
        if self.resize != "none" and self.size is None:
            raise ParamError(f"resize={self.resize} needs size=WIDTHxHEIGHT, for example size=640x360")
        return self

    @property
    def interval(self) -> float:
        """Seconds between two sampling targets."""
        if self.every_seconds is not None:
            return float(self.every_seconds)
        if self.fps is None or not _positive_finite(self.fps):
            raise ParamError("one of fps or every_seconds is required")
        return 1.0 / float(self.fps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fps": self.fps,
            "every_seconds": self.every_seconds,
            "start": self.start,
            "end": self.end,
            "max_frames": self.max_frames,
            "mode": self.mode,
            "resize": self.resize,
            "size": list(self.size) if self.size is not None else None,
            "backend": self.backend,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SamplingParams:
        known = {k: v for k, v in data.items() if k in _SAMPLING_KEYS}
        if known.get("size") is not None:
            known["size"] = tuple(known["size"])
        return cls(**known)


_SAMPLING_KEYS = frozenset(SamplingParams.__dataclass_fields__)


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """Everything one run needs besides the video itself."""

    model: str = "maskrcnn"
    weights: str = "pretrained"
    batch_size: int = 4
    device: str = "auto"
    precision: str = "auto"
    score_threshold: float = 0.5
    include: frozenset[str] = DEFAULT_INCLUDE
    track: bool = False  # follow objects across frames (reelsight.tracking); tracks.jsonl
    sampling: SamplingParams = field(default_factory=SamplingParams)

    def __post_init__(self) -> None:
        if not isinstance(self.include, frozenset):
            object.__setattr__(self, "include", frozenset(cast(Iterable[str], self.include)))

    def validate(self) -> RunOptions:
        if not isinstance(self.model, str) or not _MODEL_RE.match(self.model):
            raise ParamError(f"model must be a model name such as maskrcnn or fasterrcnn, got {self.model!r}")
        if not isinstance(self.weights, str) or not self.weights.strip():
            raise ParamError("weights must be 'pretrained', 'random', a file path or an s3:// uri")
        check_option("batch_size", self.batch_size)
        if not isinstance(self.device, str) or not _DEVICE_RE.match(self.device):
            raise ParamError(f"device must be one of auto, cpu, cuda, cuda:N, got {self.device!r}")
        _check_choice("precision", self.precision, PRECISIONS)
        check_option("score_threshold", self.score_threshold)
        unknown = sorted(set(self.include) - INCLUDE_CHOICES)
        if unknown:
            accepted = ", ".join(sorted(INCLUDE_CHOICES))
            raise ParamError(f"include: unknown item(s) {', '.join(unknown)}; accepted: {accepted}")
        if not isinstance(self.track, bool):
            raise ParamError(f"track must be true or false, got {self.track!r}")
        self.sampling.validate()
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "weights": self.weights,
            "batch_size": self.batch_size,
            "device": self.device,
            "precision": self.precision,
            "score_threshold": self.score_threshold,
            "include": sorted(self.include),
            "track": self.track,
            "sampling": self.sampling.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunOptions:
        known = {k: v for k, v in data.items() if k in _RUN_KEYS and k != "sampling"}
        if "include" in known:
            known["include"] = frozenset(known["include"])
        sampling = SamplingParams.from_dict(data.get("sampling") or {})
        return cls(**known, sampling=sampling)

    def with_overrides(self, mapping: Mapping[str, str]) -> RunOptions:
        """Apply string overrides (custom attributes, S3 user metadata, environment).

        Keys are case-insensitive and ``-`` equals ``_`` (``max-frames`` = ``max_frames``).
        """
        run: dict[str, Any] = {}
        sampling: dict[str, Any] = {}
        normalized: dict[str, str] = {}
        for raw_key, raw_value in mapping.items():
            key = str(raw_key).strip().lower().replace("-", "_")
            if key not in OVERRIDE_KEYS:
                raise ParamError(f"unknown parameter {raw_key!r}; accepted: {', '.join(OVERRIDE_KEYS)}")
            normalized[key] = str(raw_value).strip()
        if "fps" in normalized and "every_seconds" in normalized:
            raise ParamError("give either fps or every_seconds, not both")
        for key, value in normalized.items():
            if key in _RUN_PARSERS:
                run[key] = _RUN_PARSERS[key](key, value)
            else:
                sampling[key] = _SAMPLING_PARSERS[key](key, value)
        if "fps" in sampling:
            sampling["every_seconds"] = None
        elif "every_seconds" in sampling:
            sampling["fps"] = None
        new_sampling = replace(self.sampling, **sampling) if sampling else self.sampling
        return replace(self, **run, sampling=new_sampling).validate()


_RUN_KEYS = frozenset(RunOptions.__dataclass_fields__)


def _check_size(size: tuple[int, ...]) -> None:
    if len(size) != 2 or not all(OPTION_RANGES["size"].contains(side) for side in size):
        raise ParamError(
            f"size must be WIDTHxHEIGHT with sides {OPTION_RANGES['size'].describe()}, got {size!r}"
        )


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ParamError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def _parse_str(key: str, value: str) -> str:
    if not value:
        raise ParamError(f"{key} must not be empty")
    return value


def _parse_float(key: str, value: str) -> float:
    return float(parse_option(key, value))


def _parse_optional_float(key: str, value: str) -> float | None:
    return None if value.lower() in _NONE_WORDS else _parse_float(key, value)


def _parse_int(key: str, value: str) -> int:
    return int(parse_option(key, value))


def _parse_optional_int(key: str, value: str) -> int | None:
    return None if value.lower() in _NONE_WORDS else _parse_int(key, value)


def _parse_size(key: str, value: str) -> tuple[int, int] | None:
    if value.lower() in _NONE_WORDS:
        return None
    match = _SIZE_RE.match(value)
    if not match:
        raise ParamError(f"{key} must look like WIDTHxHEIGHT, for example 640x360, got {value!r}")
    width, height = (int(parse_option("size", side)) for side in match.groups())
    return width, height


def parse_bool(key: str, value: str) -> bool:
    """``true``/``false`` (also 1/0, yes/no, on/off, any case); ParamError naming ``key`` otherwise."""
    lowered = value.lower()
    if lowered in _TRUE_WORDS:
        return True
    if lowered in _FALSE_WORDS:
        return False
    raise ParamError(f"{key} must be true or false (also 1/0, yes/no, on/off), got {value!r}")


def _parse_choice(choices: tuple[str, ...]) -> Any:
    def parse(key: str, value: str) -> str:
        lowered = value.lower()
        _check_choice(key, lowered, choices)
        return lowered

    return parse


def _parse_include(key: str, value: str) -> frozenset[str]:
    if value.lower() in _NONE_WORDS:
        return frozenset()
    items = {item.strip().lower() for item in re.split(r"[+|]", value) if item.strip()}
    unknown = sorted(items - INCLUDE_CHOICES)
    if unknown:
        raise ParamError(
            f"{key}: unknown item(s) {', '.join(unknown)}; accepted: {', '.join(sorted(INCLUDE_CHOICES))} "
            "joined with + or |, or none"
        )
    return frozenset(items)


_RUN_PARSERS: dict[str, Any] = {
    "model": lambda k, v: _parse_str(k, v).lower(),
    "weights": _parse_str,
    "batch_size": _parse_int,
    "device": lambda k, v: _parse_str(k, v).lower(),
    "precision": _parse_choice(PRECISIONS),
    "score_threshold": _parse_float,
    "include": _parse_include,
    "track": parse_bool,
}
_SAMPLING_PARSERS: dict[str, Any] = {
    "fps": _parse_float,
    "every_seconds": _parse_float,
    "start": _parse_float,
    "end": _parse_optional_float,
    "max_frames": _parse_optional_int,
    "mode": _parse_choice(MODES),
    "resize": _parse_choice(RESIZES),
    "size": _parse_size,
    "backend": _parse_choice(BACKENDS),
}
OVERRIDE_KEYS: tuple[str, ...] = tuple(_RUN_PARSERS) + tuple(_SAMPLING_PARSERS)


def parse_key_values(text: str) -> dict[str, str]:
    """``"a=1,b=2"`` or ``"a=1;b=2"`` -> ``{"a": "1", "b": "2"}``; blank text gives ``{}``."""
    result: dict[str, str] = {}
    for part in re.split(r"[,;]", text or ""):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ParamError(f"expected key=value pairs separated by ',' or ';', got {part.strip()!r}")
        if key in result:
            raise ParamError(f"parameter {key!r} is given twice")
        result[key] = value.strip()
    return result


# Environment variable -> override key, for worker defaults.
ENV_KEYS: dict[str, str] = {
    envvars.MODEL: "model",
    envvars.WEIGHTS: "weights",
    envvars.FPS: "fps",
    envvars.EVERY_SECONDS: "every_seconds",
    envvars.START: "start",
    envvars.END: "end",
    envvars.MODE: "mode",
    envvars.BATCH_SIZE: "batch_size",
    envvars.RESIZE: "resize",
    envvars.SIZE: "size",
    envvars.MAX_FRAMES: "max_frames",
    envvars.INCLUDE: "include",
    envvars.DEVICE: "device",
    envvars.PRECISION: "precision",
    envvars.BACKEND: "backend",
    envvars.SCORE_THRESHOLD: "score_threshold",
    envvars.TRACK: "track",
}


def options_from_env(environ: Mapping[str, str]) -> RunOptions:
    """Defaults from ``REELSIGHT_*`` variables; unset or empty variables keep the built-in default."""
    mapping: dict[str, str] = {}
    for name, key in ENV_KEYS.items():
        value = environ.get(name)
        if value is None or not value.strip():
            continue
        parser = _RUN_PARSERS.get(key) or _SAMPLING_PARSERS[key]
        try:
            parser(key, value.strip())
        except ParamError as exc:
            raise ParamError(f"environment variable {name}: {exc}") from None
        mapping[key] = value
    try:
        return RunOptions().with_overrides(mapping)
    except ParamError as exc:
        raise ParamError(f"REELSIGHT_* environment defaults: {exc}") from None
