"""Results schema: JSON round trips, streaming writer, summary, COCO RLE."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from reelsight import results
from reelsight.results import (
    SCHEMA_VERSION,
    Detections,
    FrameResult,
    FramesWriter,
    RunSummary,
    SemanticResult,
    ShortSummary,
    Timings,
    mask_to_rle,
    read_frames_jsonl,
    read_summary,
    rle_to_mask,
    write_summary,
)


def _detections(with_masks: bool = True) -> Detections:
    mask = np.zeros((40, 60), bool)
    mask[5:20, 10:30] = True
    return Detections(
        xyxy=np.array([[10.0, 5.0, 29.5, 19.25], [1, 2, 3, 4]], np.float32),
        labels=np.array([1, 3]),
        scores=np.array([0.98766, 0.5]),
        class_names=["person", "car"],
        masks=[mask_to_rle(mask), mask_to_rle(~mask)] if with_masks else None,
    )


def test_detections_json_round_trip() -> None:
    det = _detections()
    data = det.to_json()
    assert data["boxes"][0] == [10.0, 5.0, 29.5, 19.25]
    assert data["scores"] == [0.9877, 0.5]
    assert data["labels"] == [1, 3] and data["class_names"] == ["person", "car"]
    assert isinstance(data["masks"][0]["counts"], str)
    back = Detections.from_json(json.loads(json.dumps(data)))
    assert len(back) == 2
    np.testing.assert_allclose(back.xyxy, det.xyxy)
    assert back.labels.dtype == np.int64 and back.xyxy.dtype == np.float32
    assert back.masks is not None
    assert rle_to_mask(back.masks[0])[10, 15] and not rle_to_mask(back.masks[0])[30, 50]


def test_detections_without_masks_and_empty() -> None:
    assert "masks" not in _detections(with_masks=False).to_json()
    empty = Detections.empty()
    assert len(empty) == 0 and empty.xyxy.shape == (0, 4)
    assert len(Detections.from_json(empty.to_json())) == 0


def test_detections_reject_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="disagree"):
        Detections(
            xyxy=np.zeros((2, 4)), labels=np.array([1]), scores=np.array([0.5, 0.4]), class_names=["a", "b"]
        )
    with pytest.raises(ValueError, match="masks"):
        Detections(
            xyxy=np.zeros((1, 4)), labels=np.array([1]), scores=np.array([0.5]), class_names=["a"], masks=[]
        )


def test_frame_result_round_trip_with_semantic() -> None:
    frame = FrameResult(
        frame_index=42,
        timestamp=1.4000000001,
        width=640,
        height=360,
        semantic=SemanticResult(
            fractions={"road": 0.5, "sky": 0.25}, class_map_png="masks/000042.png", class_map=np.zeros((2, 2))
        ),
        keyframe=False,
    )
    data = frame.to_json()
    assert data["timestamp"] == 1.4
    assert data["detections"] is None
    assert "class_map" not in data["semantic"]
    back = FrameResult.from_json(data)
    assert back.semantic is not None and back.semantic.fractions == {"road": 0.5, "sky": 0.25}
    assert back.semantic.class_map is None
    assert (back.frame_index, back.width, back.height, back.keyframe) == (42, 640, 360, False)


def test_frames_writer_streams_lines_and_counts(tmp_path: Path) -> None:
    path = tmp_path / "out" / "frames.jsonl"
    with FramesWriter(path) as writer:
        writer.write(FrameResult(frame_index=0, timestamp=0.0, width=60, height=40, detections=_detections()))
        # Flushed per line: a reader sees the first frame before the writer closes.
        assert len(path.read_text().splitlines()) == 1
        writer.write_all(
            [FrameResult(frame_index=30, timestamp=1.0, width=60, height=40, detections=Detections.empty())]
        )
    assert writer.frames_written == 2
    assert writer.detections_total == 2
    assert writer.counts_per_class == {"person": 1, "car": 1}
    frames = list(read_frames_jsonl(path))
    assert [f.frame_index for f in frames] == [0, 30]
    assert frames[0].detections is not None and frames[0].detections.class_names == ["person", "car"]


def test_frames_writer_requires_open() -> None:
    with pytest.raises(RuntimeError, match="context manager"):
        FramesWriter("unused.jsonl").write(FrameResult(frame_index=0, timestamp=0, width=1, height=1))


def test_read_frames_jsonl_reports_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "frames.jsonl"
    good = json.dumps(FrameResult(frame_index=0, timestamp=0, width=2, height=2).to_json())
    path.write_text(good + "\n\n" + '{"frame_index": 1, "timest\n')
    reader = read_frames_jsonl(path)
    assert next(reader).frame_index == 0
    with pytest.raises(ValueError, match=r"frames.jsonl:3"):
        next(reader)


def test_summary_round_trip_and_atomic_write(tmp_path: Path) -> None:
    summary = RunSummary(
        video={"uri": "s3://b/k.mp4", "width": 320, "height": 240, "fps": 30.0, "duration": 5.0},
        model={"name": "maskrcnn", "random_weights": True},
        params={"fps": 1.0},
        frames_sampled=5,
        detections_total=7,
        counts_per_class={"person": 7},
        timings=Timings(decode=0.123456789),
        warnings=["w"],
        artifacts={"frames": "frames.jsonl"},
    )
    path = tmp_path / "summary.json"
    write_summary(path, summary)
    raw = json.loads(path.read_text())
    assert next(iter(raw)) == "schema_version" and raw["schema_version"] == SCHEMA_VERSION
    assert raw["timings"]["decode"] == 0.1235
    assert raw["status"] == "ok" and raw["error"] is None
    back = read_summary(path)
    assert back.counts_per_class == {"person": 7} and back.video["uri"] == "s3://b/k.mp4"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_summary_from_json_ignores_unknown_fields() -> None:
    data = RunSummary(status="failed", error="boom").to_json() | {"future_field": 1}
    back = RunSummary.from_json(data)
    assert back.status == "failed" and back.error == "boom"


def _ran(**changes: object) -> RunSummary:
    summary = RunSummary(
        video={"uri": "s3://b/k.mp4", "duration": 5.0},
        model={"name": "maskrcnn", "task": "instance_segmentation", "random_weights": True},
        frames_sampled=5,
        detections_total=7,
        counts_per_class={"person": 6, "car": 1},
        timings=Timings(total=2.5, decode=0.5, inference=1.75, inference_per_frame=0.35),
        warnings=[f"warning {i}" for i in range(8)],
        artifacts={"frames": "s3://r/jobs/j/artifacts/frames.jsonl"},
    )
    for name, value in changes.items():
        setattr(summary, name, value)
    return summary


def test_output_body_is_the_summary_and_an_older_document_still_reads() -> None:
    summary = _ran()
    assert RunSummary.from_output(json.loads(json.dumps(summary.to_json()))) == summary
    frame = FrameResult(frame_index=3, timestamp=0.1, width=4, height=4, detections=Detections.empty())
    # What workers answered before the frames left the body.
    older = {"schema_version": SCHEMA_VERSION, "summary": summary.to_json(), "frames": [frame.to_json()]}
    assert RunSummary.from_output(older) == summary
    for not_a_summary in ({"frames": []}, {"summary": "x"}, [summary.to_json()], None):
        with pytest.raises(ValueError, match="not a run summary"):
            RunSummary.from_output(not_a_summary)


def test_short_form_keeps_the_job_level_figures() -> None:
    summary = _ran(status="partial", partial=True, error=None)
    short = summary.short()
    assert short.to_json() == {
        "schema_version": SCHEMA_VERSION,
        "status": "partial",
        "frames_sampled": 5,
        "detections_total": 7,
        "counts_per_class": {"person": 6, "car": 1},
        "unique_objects_per_class": None,
        "model": "maskrcnn",
        "random_weights": True,
        "partial": True,
        "error": None,
        "timings": summary.timings.to_json(),
        "artifacts": {"frames": "s3://r/jobs/j/artifacts/frames.jsonl"},
        "warnings": [f"warning {i}" for i in range(5)],
        "receipt": None,  # the worker adds it (reelsight.contract.cost)
    }
    assert ShortSummary.from_json(json.loads(json.dumps(short.to_json()))) == short
    assert ShortSummary.from_json(summary.to_json()) == short  # a full summary is shortened


def test_short_form_reads_records_of_an_older_results_handler() -> None:
    older = {"frames_sampled": 4, "detections_total": 2, "counts_per_class": {"car": 2}, "status": "ok",
             "partial": False, "approximate": False, "model": "ssdlite", "random_weights": True,
             "video_duration": 4.0, "artifacts": {}, "warnings": ["w"]}  # fmt: skip
    short = ShortSummary.from_json(older)
    assert (short.frames_sampled, short.model, short.random_weights, short.warnings) == (
        4,
        "ssdlite",
        True,
        ["w"],
    )
    assert short.timings == Timings() and short.error is None


def test_timings_read_only_the_pipelines_phases() -> None:
    timings = Timings.from_json({"total": 3, "decode": "0.5", "inference": -1, "queued": 9.0, "write": True})
    assert timings == Timings(total=3.0)
    assert Timings(decode=0.123456789).to_json()["decode"] == 0.1235
    assert Timings.from_json(None) == Timings()


@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (187, 333), (64, 64)])
@pytest.mark.parametrize("density", [0.0, 0.02, 0.5, 1.0])
def test_rle_round_trip_and_numpy_codec_matches_pycocotools(shape: tuple[int, int], density: float) -> None:
    rng = np.random.default_rng(abs(hash((shape, density))) % 2**32)
    mask = rng.random(shape) < density
    rle = mask_to_rle(mask)
    assert rle["size"] == list(shape) and isinstance(rle["counts"], str)
    assert np.array_equal(rle_to_mask(rle), mask)
    assert results._encode_rle_numpy(mask) == rle
    assert np.array_equal(results._decode_rle_numpy(rle), mask)
    reference = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    assert reference["counts"].decode() == rle["counts"]
    assert int(coco_mask.area(reference)) == int(mask.sum())


def test_rle_is_compact_for_blobs() -> None:
    mask = np.zeros((1024, 1024), bool)
    mask[100:600, 200:700] = True
    assert len(mask_to_rle(mask)["counts"]) < 2048


def test_mask_to_rle_rejects_non_2d() -> None:
    with pytest.raises(ValueError, match="2-D"):
        mask_to_rle(np.zeros((2, 2, 2), bool))
