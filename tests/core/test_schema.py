"""The JSON Schemas in docs/schema describe exactly what the writers produce."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from reelsight.frames import probe
from reelsight.params import RunOptions
from reelsight.results import (
    Detections,
    FrameResult,
    FramesWriter,
    RunSummary,
    SemanticResult,
    Timings,
    mask_to_rle,
    write_summary,
)
from reelsight.testing.videos import WrittenVideo


def _validator(repo_root: Path, name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((repo_root / "docs" / "schema" / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope="module")
def frame_schema(repo_root: Path) -> jsonschema.Draft202012Validator:
    return _validator(repo_root, "frames.schema.json")


@pytest.fixture(scope="module")
def summary_schema(repo_root: Path) -> jsonschema.Draft202012Validator:
    return _validator(repo_root, "summary.schema.json")


@pytest.fixture(scope="module")
def short_schema(repo_root: Path) -> jsonschema.Draft202012Validator:
    return _validator(repo_root, "short-summary.schema.json")


def _frames() -> list[FrameResult]:
    mask = np.zeros((90, 160), bool)
    mask[10:40, 20:70] = True
    return [
        FrameResult(
            frame_index=0,
            timestamp=0.0,
            width=160,
            height=90,
            keyframe=True,
            detections=Detections(
                xyxy=np.array([[20, 10, 70, 40]], np.float32),
                labels=np.array([1]),
                scores=np.array([0.93]),
                class_names=["person"],
                masks=[mask_to_rle(mask)],
            ),
        ),
        FrameResult(frame_index=30, timestamp=1.0, width=160, height=90, detections=Detections.empty()),
        FrameResult(
            frame_index=60,
            timestamp=2.0,
            width=160,
            height=90,
            keyframe=False,
            semantic=SemanticResult(fractions={"road": 0.75, "sky": 0.25}, class_map_png="masks/000060.png"),
        ),
    ]


def _summary(clip: WrittenVideo) -> RunSummary:
    return RunSummary(
        video={"uri": "s3://in/incoming/clip.mp4", **probe(clip.path).to_dict()},
        model={
            "name": "maskrcnn",
            "task": "instance_segmentation",
            "weights": "random",
            "weights_source": None,
            "random_weights": True,
            "device": "cpu",
            "precision": "fp32",
        },
        params=RunOptions().to_dict(),
        frames_sampled=3,
        detections_total=1,
        counts_per_class={"person": 1},
        timings=Timings(decode=0.2, inference=1.5, total=1.9),
        warnings=["random weights"],
        artifacts={"frames": "frames.jsonl", "summary": "summary.json"},
    )


def _errors(validator: jsonschema.Draft202012Validator, doc: Any) -> list[str]:
    return [e.message for e in validator.iter_errors(doc)]


def test_frames_writer_output_matches_schema(tmp_path: Path, frame_schema: Any) -> None:
    path = tmp_path / "frames.jsonl"
    with FramesWriter(path) as writer:
        writer.write_all(_frames())
    lines = path.read_text().splitlines()
    assert len(lines) == 3
    for line in lines:
        assert _errors(frame_schema, json.loads(line)) == []


def test_summary_matches_schema(tmp_path: Path, clip_5s: WrittenVideo, summary_schema: Any) -> None:
    path = tmp_path / "summary.json"
    write_summary(path, _summary(clip_5s))
    assert _errors(summary_schema, json.loads(path.read_text())) == []
    failed = RunSummary(status="failed", error="VideoError: not a video", partial=False)
    assert _errors(summary_schema, failed.to_json()) == []


def test_output_body_is_a_summary_and_its_short_form_matches(
    tmp_path: Path, clip_5s: WrittenVideo, summary_schema: Any, short_schema: Any
) -> None:
    from reelsight.worker.handler import output_fn

    with FramesWriter(tmp_path / "frames.jsonl") as writer:
        writer.write_all(_frames())
    body = json.loads(
        output_fn(_summary(clip_5s), tmp_path, job_id="j", store=None, max_response_bytes=10**6)
    )
    assert _errors(summary_schema, body) == []
    short = RunSummary.from_output(body).short().to_json()
    assert _errors(short_schema, short) == []
    assert _errors(short_schema, RunSummary(status="failed", error="boom").short().to_json()) == []


def test_schemas_reject_drift(frame_schema: Any, summary_schema: Any, short_schema: Any) -> None:
    good = _frames()[0].to_json()
    missing = {k: v for k, v in good.items() if k != "timestamp"}
    assert _errors(frame_schema, missing)
    assert _errors(frame_schema, good | {"extra": 1})
    bad_box = json.loads(json.dumps(good))
    bad_box["detections"]["boxes"][0] = [1, 2, 3]
    assert _errors(frame_schema, bad_box)
    bad_rle = json.loads(json.dumps(good))
    bad_rle["detections"]["masks"][0]["counts"] = [1, 2]
    assert _errors(frame_schema, bad_rle)
    summary = RunSummary().to_json()
    assert _errors(summary_schema, summary | {"status": "done"})
    assert _errors(summary_schema, summary | {"schema_version": "2.0"})
    assert _errors(summary_schema, summary | {"timings": {**summary["timings"], "queued_seconds": 1.0}})
    assert _errors(summary_schema, summary | {"frames": []})  # frames live in frames.jsonl only
    short = RunSummary().short().to_json()
    assert _errors(short_schema, short | {"model": {"name": "maskrcnn"}})
    assert _errors(short_schema, short | {"video_duration": 5.0})
