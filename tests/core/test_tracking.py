"""Tracking in a run: track IDs in frames.jsonl, tracks.jsonl, the summary, the preview, bad input.

The videos are reelsight.testing.videos clips: three coloured boxes sliding right at their own
speeds, each wrapping round to the left edge. ``reelsight.testing.colour_boxes.ColourBoxes`` finds
them in the decoded pixels, so the tracker follows what a detector sees; every wrap is a new object
(it left and came back).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from reelsight import render
from reelsight.client import describe_summary
from reelsight.contract.options import TRACK_FPS, check_tracking, resolve_run_options, with_tracking_rate
from reelsight.contract.summary import SCHEMA_VERSION, RunSummary, ShortSummary
from reelsight.contract.tracks import read_tracks_jsonl
from reelsight.errors import ParamError
from reelsight.pipeline import run_video
from reelsight.results import Detections, FrameResult, read_frames_jsonl, rle_to_mask
from reelsight.testing.colour_boxes import ColourBoxes
from reelsight.testing.videos import WrittenVideo, write_video
from reelsight.tracking import tracks_from_frames

SPEEDS = (3, 5, 7)  # px per video frame of the three boxes (frame_image: 3 + 2k)


@pytest.fixture(scope="module")
def sliding_clip(tmp_path_factory: pytest.TempPathFactory) -> WrittenVideo:
    """3 s at 10 fps, 160x120: each box wraps at least once."""
    path = tmp_path_factory.mktemp("tracking") / "sliding.mp4"
    return write_video(path, seconds=3, fps=10, width=160, height=120, gop=10)


def expected_objects(clip: WrittenVideo) -> dict[str, int]:
    """Objects per class: one per box, plus one per wrap (frame_image's x positions)."""
    span = clip.width - max(clip.width // 6, 4)
    counts = {"person": 0, "car": 0}
    for k, speed in enumerate(SPEEDS):
        xs = [(i * speed + k * clip.width // 3) % span for i in range(clip.frame_count)]
        wraps = sum(1 for a, b in zip(xs, xs[1:], strict=False) if b < a)
        counts["person" if k == 0 else "car"] += 1 + wraps
    return counts


def tracked_options(**extra: str) -> object:
    return resolve_run_options({}, {"track": "true", "include": "masks+preview", **extra})


def test_a_tracked_run_writes_track_ids_tracks_and_unique_objects(
    sliding_clip: WrittenVideo, tmp_path: Path
) -> None:
    options = tracked_options()
    assert options.sampling.fps == TRACK_FPS  # tracking's own rate, no rate given
    calls: list[tuple[int, int | None]] = []
    summary = run_video(
        sliding_clip.path,
        options=options,
        out_dir=tmp_path,
        predictor=ColourBoxes(),
        progress=lambda done, total: calls.append((done, total)),
    )

    frames = list(read_frames_jsonl(tmp_path / "frames.jsonl"))
    assert len(frames) == sliding_clip.frame_count
    assert calls[-1][0] == len(frames)  # the last progress counts the frame tracking held back
    for frame in frames:
        assert frame.detections is not None and len(frame.detections) == 3
        # Every box is on a track, the first sighting of each track included.
        assert frame.detections.track_ids is not None and None not in frame.detections.track_ids
    tracks = list(read_tracks_jsonl(tmp_path / "tracks.jsonl"))
    wanted = expected_objects(sliding_clip)
    assert summary.unique_objects_per_class == dict(sorted(wanted.items(), key=lambda kv: (-kv[1], kv[0])))
    assert len(tracks) == sum(wanted.values())
    assert [t.track_id for t in tracks] == list(range(1, len(tracks) + 1))
    # tracks.jsonl says what frames.jsonl says.
    assert [t.to_json() for t in tracks] == [t.to_json() for t in tracks_from_frames(frames)]
    first = min(tracks, key=lambda t: t.first_seen)
    assert first.first_seen == 0.0 and first.frames_seen >= 2
    assert first.dwell_seconds == pytest.approx(first.last_seen - first.first_seen)
    best = first.best
    assert best.mask is not None
    ys, xs = np.nonzero(rle_to_mask(dict(best.mask)))
    assert [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1] == pytest.approx(list(best.box))

    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["schema_version"] == SCHEMA_VERSION == "1.1"
    assert written["artifacts"]["tracks"] == "tracks.jsonl"
    assert written["params"]["track"] is True
    assert summary.short().to_json()["unique_objects_per_class"] == summary.unique_objects_per_class
    assert not any("too low to track" in w for w in summary.warnings)
    assert (tmp_path / "preview.mp4").stat().st_size > 0
    # What `submit --wait` and `fetch` print: detections and objects side by side.
    lines = describe_summary(written)
    header = lines.index(f"  {'class':<20} {'detections':>10} {'objects':>8}")
    rows = [line.split() for line in lines[header + 1 : header + 1 + len(wanted)]]
    assert {name: int(objects) for name, _, objects in rows} == wanted
    assert {name: int(detections) for name, detections, _ in rows} == summary.counts_per_class


def test_what_a_tracked_run_writes_matches_the_schemas(
    sliding_clip: WrittenVideo, tmp_path: Path, repo_root: Path
) -> None:
    options = tracked_options(max_frames="6")
    summary = run_video(sliding_clip.path, options=options, out_dir=tmp_path, predictor=ColourBoxes())

    def validator(name: str) -> jsonschema.Draft202012Validator:
        schema = json.loads((repo_root / "docs" / "schema" / name).read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        return jsonschema.Draft202012Validator(schema)

    for name, file in (("frames.schema.json", "frames.jsonl"), ("tracks.schema.json", "tracks.jsonl")):
        lines = (tmp_path / file).read_text().splitlines()
        assert lines
        for line in lines:
            validator(name).validate(json.loads(line))
    validator("summary.schema.json").validate(json.loads((tmp_path / "summary.json").read_text()))
    validator("short-summary.schema.json").validate(summary.short().to_json())


def test_an_untracked_run_has_no_tracks(sliding_clip: WrittenVideo, tmp_path: Path) -> None:
    options = resolve_run_options({}, {"max_frames": "3", "include": "none"})
    summary = run_video(sliding_clip.path, options=options, out_dir=tmp_path, predictor=ColourBoxes())
    assert summary.unique_objects_per_class is None and "tracks" not in summary.artifacts
    assert not (tmp_path / "tracks.jsonl").exists()
    line = json.loads((tmp_path / "frames.jsonl").read_text().splitlines()[0])
    assert "track_ids" not in line["detections"]


def test_a_low_sampling_rate_warns(sliding_clip: WrittenVideo, tmp_path: Path) -> None:
    options = tracked_options(fps="2", include="none")
    assert options.sampling.fps == 2  # a given rate wins over tracking's own
    summary = run_video(sliding_clip.path, options=options, out_dir=tmp_path, predictor=ColourBoxes())
    assert any("2 fps is too low to track" in w for w in summary.warnings), summary.warnings


def test_track_ids_are_drawn_in_one_colour_per_track() -> None:
    """The same track keeps its colour from frame to frame; another track gets another one."""
    image = np.zeros((120, 160, 3), np.uint8)

    def drawn(box: list[float], track_id: int) -> tuple[int, int, int]:
        det = Detections(
            xyxy=np.array([box]), labels=[1], scores=[0.9], class_names=["person"], track_ids=[track_id]
        )
        out = render.annotate(image, FrameResult(0, 0.0, 160, 120, detections=det), draw_labels=False)
        x1, y1 = int(box[0]), int(box[1])
        return tuple(int(v) for v in out[y1 + 20, x1])  # on the box's left edge

    assert drawn([10, 10, 60, 90], 4) == drawn([70, 20, 120, 100], 4) == render.track_colour(4)
    assert drawn([10, 10, 60, 90], 5) != drawn([10, 10, 60, 90], 4)
    assert render.track_colour(4) != render.class_colour(1)


def test_tracking_needs_a_model_with_boxes(sliding_clip: WrittenVideo, tmp_path: Path) -> None:
    with pytest.raises(ParamError, match="track needs a model that outputs boxes"):
        resolve_run_options({}, {"track": "true", "model": "deeplabv3_resnet50"})
    with pytest.raises(ParamError, match="not available for MXNet models such as builtin_ssd"):
        resolve_run_options({}, {"track": "true", "model": "builtin_ssd"})
    options = resolve_run_options({}, {"track": "true", "max_frames": "2"})
    with pytest.raises(ParamError, match="deeplabv3_mobilenet_v3 is a semantic_segmentation model"):
        run_video(
            sliding_clip.path,
            options=options,
            out_dir=tmp_path,
            predictor=ColourBoxes("deeplabv3_mobilenet_v3"),
        )
    assert not (tmp_path / "frames.jsonl").exists()
    assert check_tracking(resolve_run_options({}, {"model": "deeplabv3_resnet50"})).track is False


def test_reelsight_run_track_with_a_semantic_model_exits_2(
    sliding_clip: WrittenVideo, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "reelsight", "run", str(sliding_clip.path), "--track",
         "--model", "deeplabv3_resnet50", "--weights", "random", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "track needs a model that outputs boxes" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_track_flags_reach_the_run_options(sliding_clip: WrittenVideo, tmp_path: Path) -> None:
    from reelsight.cli import build_parser
    from reelsight.cli.process import settings_from_args
    from reelsight.cli.run import build_options, format_summary

    parser = build_parser()
    ran = build_options(parser.parse_args(["run", str(sliding_clip.path), "--track"]))
    assert ran.track is True and ran.sampling.fps == TRACK_FPS
    slow = build_options(
        parser.parse_args(["run", str(sliding_clip.path), "--track", "--every-seconds", "0.5"])
    )
    assert slow.track is True and slow.sampling.every_seconds == 0.5
    assert build_options(parser.parse_args(["run", str(sliding_clip.path)])).track is False
    processed = settings_from_args(
        parser.parse_args(["process", "--track", "--input", str(tmp_path), "--output", str(tmp_path)]),
        {"REELSIGHT_RESOURCE_CONFIG": str(tmp_path / "none.json"), "REELSIGHT_FPS": "1"},
    )
    assert processed.options.track is True and processed.options.sampling.fps == TRACK_FPS

    summary = run_video(
        sliding_clip.path, options=tracked_options(max_frames="4", include="none"), out_dir=tmp_path,
        predictor=ColourBoxes(),
    )  # fmt: skip
    assert "unique objects (tracks): 3 (car 2, person 1)" in format_summary(summary, tmp_path)


def test_a_processing_job_with_track_writes_tracks_beside_each_videos_frames(
    sliding_clip: WrittenVideo, tmp_path: Path
) -> None:
    """The Processing route: track from the job's environment (as the dispatcher writes it)."""
    import shutil

    from reelsight.worker.processing import run_job, settings_from_environment

    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    shutil.copy(sliding_clip.path, inp / "a.mp4")
    settings = settings_from_environment(
        {"REELSIGHT_RESOURCE_CONFIG": str(tmp_path / "none.json"), "REELSIGHT_TRACK": "true",
         "REELSIGHT_FPS": "10", "REELSIGHT_MAX_FRAMES": "8", "REELSIGHT_INCLUDE": "none"},
        overrides={}, input_dir=str(inp), output_dir=str(out), message_file=str(tmp_path / "message"),
    )  # fmt: skip
    assert run_job(settings, load=lambda _settings: ColourBoxes()) == 0
    frames = list(read_frames_jsonl(out / "a" / "frames.jsonl"))
    tracks = list(read_tracks_jsonl(out / "a" / "tracks.jsonl"))
    assert len(frames) == 8 and len(tracks) >= 3
    assert [t.to_json() for t in tracks] == [t.to_json() for t in tracks_from_frames(frames)]
    summary = json.loads((out / "a" / "summary.json").read_text())
    assert summary["params"]["track"] is True and summary["unique_objects_per_class"]


@pytest.mark.parametrize(
    ("overrides", "fps"),
    [
        ({"track": "true"}, "10"),
        ({"TRACK": "On", "fps": "4"}, "4"),
        ({"track": "yes", "every-seconds": "0.2"}, None),
        ({"track": "false"}, None),
        ({}, None),
    ],
)
def test_tracking_asks_for_its_own_rate_unless_one_is_given(
    overrides: dict[str, str], fps: str | None
) -> None:
    wanted = with_tracking_rate(overrides)
    assert wanted.get("fps") == fps
    assert {k: v for k, v in wanted.items() if k != "fps"} == {
        k: v for k, v in overrides.items() if k != "fps"
    }


def test_a_bad_track_value_names_the_key() -> None:
    with pytest.raises(ParamError, match="track must be true or false"):
        resolve_run_options({}, {"track": "maybe"})


def test_schema_1_0_documents_still_read() -> None:
    """Readers of 1.1 take 1.0 lines and summaries: no track_ids, no unique objects."""
    line = {
        "frame_index": 3, "timestamp": 0.1, "width": 160, "height": 120, "keyframe": None,
        "detections": {"boxes": [[1, 2, 3, 4]], "labels": [1], "scores": [0.9], "class_names": ["person"]},
        "semantic": None,
    }  # fmt: skip
    frame = FrameResult.from_json(line)
    assert frame.detections is not None and frame.detections.track_ids is None
    assert tracks_from_frames([frame]) == []
    old = {
        "schema_version": "1.0",
        "frames_sampled": 1,
        "detections_total": 1,
        "counts_per_class": {"person": 1},
    }
    summary = RunSummary.from_json(old)
    assert summary.unique_objects_per_class is None and summary.schema_version == "1.0"
    assert ShortSummary.from_json(summary.short().to_json()).unique_objects_per_class is None
    tracked = ShortSummary.from_json({**old, "unique_objects_per_class": {"person": 2}})
    assert tracked.unique_objects_per_class == {"person": 2}
