"""Run parameters: validation, string overrides, key=value parsing, environment defaults."""

from __future__ import annotations

import pytest

from reelsight import envvars
from reelsight.errors import ParamError
from reelsight.params import (
    INCLUDE_CHOICES,
    RunOptions,
    SamplingParams,
    options_from_env,
    parse_key_values,
)


def test_defaults_are_valid() -> None:
    options = RunOptions().validate()
    assert options.model == "maskrcnn"
    assert options.sampling.fps == 1.0
    assert options.sampling.interval == 1.0
    assert options.include == frozenset({"masks", "contact_sheet"})


def test_every_seconds_wins_over_default_fps() -> None:
    params = SamplingParams(every_seconds=2.5).validate()
    assert params.fps is None
    assert params.interval == 2.5


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"fps": 0}, "fps"),
        ({"fps": -1.0}, "fps"),
        ({"fps": float("nan")}, "fps"),
        ({"fps": None}, "fps or every_seconds"),
        ({"every_seconds": 0}, "every_seconds"),
        ({"start": -1}, "start"),
        ({"start": 5, "end": 5}, "end"),
        ({"end": 0}, "end"),
        ({"max_frames": 0}, "max_frames"),
        ({"max_frames": 2.5}, "max_frames"),
        ({"mode": "fast"}, "mode"),
        ({"resize": "zoom"}, "resize"),
        ({"resize": "fit"}, "needs size"),
        ({"resize": "fit", "size": (0, 10)}, "size"),
        ({"backend": "gstreamer"}, "backend"),
    ],
)
def test_sampling_validation_names_the_parameter(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ParamError, match=fragment):
        SamplingParams(**kwargs).validate()


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"model": ""}, "model"),
        ({"model": "../etc"}, "model"),
        ({"weights": " "}, "weights"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": True}, "batch_size"),
        ({"device": "gpu"}, "device"),
        ({"precision": "int8"}, "precision"),
        ({"score_threshold": 1.5}, "score_threshold"),
        ({"include": frozenset({"masks", "video"})}, "video"),
    ],
)
def test_run_options_validation_names_the_parameter(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ParamError, match=fragment):
        RunOptions(**kwargs).validate()


def test_device_forms() -> None:
    for device in ("auto", "cpu", "cuda", "cuda:1"):
        assert RunOptions(device=device).validate().device == device


def test_with_overrides_parses_every_key() -> None:
    options = RunOptions().with_overrides(
        {
            "model": "FasterRCNN",
            "weights": "/models/w.pt",
            "fps": "2",
            "start": "1.5",
            "end": "9",
            "max_frames": "7",
            "mode": "keyframes",
            "resize": "crop",
            "size": "640x360",
            "batch_size": "8",
            "device": "cpu",
            "precision": "bf16",
            "score_threshold": "0.25",
            "include": "masks+preview|frames",
            "backend": "opencv",
        }
    )
    s = options.sampling
    assert (options.model, options.weights, options.batch_size) == ("fasterrcnn", "/models/w.pt", 8)
    assert (options.device, options.precision, options.score_threshold) == ("cpu", "bf16", 0.25)
    assert options.include == frozenset({"masks", "preview", "frames"})
    assert (s.fps, s.start, s.end, s.max_frames) == (2.0, 1.5, 9.0, 7)
    assert (s.mode, s.resize, s.size, s.backend) == ("keyframes", "crop", (640, 360), "opencv")


def test_with_overrides_keeps_untouched_values_and_switches_rate_spelling() -> None:
    base = RunOptions(batch_size=2, sampling=SamplingParams(fps=5, max_frames=3))
    every = base.with_overrides({"every-seconds": "4"})
    assert every.batch_size == 2 and every.sampling.max_frames == 3
    assert every.sampling.fps is None and every.sampling.every_seconds == 4.0
    back = every.with_overrides({"FPS": "3"})
    assert back.sampling.fps == 3.0 and back.sampling.every_seconds is None
    assert back.with_overrides({"end": "none", "include": "none"}).include == frozenset()


@pytest.mark.parametrize(
    ("mapping", "fragment"),
    [
        ({"colour": "red"}, "unknown parameter 'colour'.*fps"),
        ({"fps": "fast"}, "fps must be a number"),
        ({"fps": "inf"}, "fps"),
        ({"max_frames": "1.5"}, "max_frames must be an integer"),
        ({"size": "640*360"}, "WIDTHxHEIGHT"),
        ({"mode": "every"}, "mode must be one of exact, keyframes"),
        ({"include": "masks+video"}, "video.*accepted"),
        ({"fps": "2", "every_seconds": "3"}, "not both"),
        ({"resize": "fit"}, "needs size"),
        ({"model": ""}, "model"),
    ],
)
def test_with_overrides_rejects_bad_input(mapping: dict, fragment: str) -> None:
    with pytest.raises(ParamError, match=fragment):
        RunOptions().with_overrides(mapping)


def test_parse_key_values() -> None:
    assert parse_key_values("fps=2,model=fasterrcnn") == {"fps": "2", "model": "fasterrcnn"}
    assert parse_key_values(" fps = 2 ; include=masks+preview; ") == {"fps": "2", "include": "masks+preview"}
    assert parse_key_values("") == {}
    assert parse_key_values("weights=") == {"weights": ""}
    for bad, fragment in (("fps", "key=value"), ("=2", "key=value"), ("a=1,a=2", "twice")):
        with pytest.raises(ParamError, match=fragment):
            parse_key_values(bad)


def test_round_trip_through_dict() -> None:
    options = RunOptions().with_overrides(parse_key_values("fps=3;resize=fit;size=320x240;include=frames"))
    data = options.to_dict()
    assert data["sampling"]["size"] == [320, 240]
    assert data["include"] == ["frames"]
    assert RunOptions.from_dict(data) == options


def test_options_from_env() -> None:
    env = {
        envvars.MODEL: "deeplabv3_resnet50",
        envvars.FPS: "0.5",
        envvars.RESIZE: "fit",
        envvars.SIZE: "512x512",
        envvars.INCLUDE: "contact_sheet",
        envvars.BATCH_SIZE: "",
        "UNRELATED": "x",
    }
    options = options_from_env(env)
    assert options.model == "deeplabv3_resnet50"
    assert options.sampling.interval == 2.0
    assert options.sampling.size == (512, 512)
    assert options.include == frozenset({"contact_sheet"})
    assert options.batch_size == RunOptions().batch_size
    assert options_from_env({}) == RunOptions()


def test_options_from_env_names_the_variable() -> None:
    with pytest.raises(ParamError, match=envvars.BATCH_SIZE):
        options_from_env({envvars.BATCH_SIZE: "many"})


def test_include_choices_are_the_documented_set() -> None:
    assert {"masks", "mask_pngs", "contact_sheet", "preview", "frames"} == INCLUDE_CHOICES
