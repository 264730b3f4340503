"""One long video over several hosts: each host runs its time ranges, the last one merges.

Every host probes the video and computes the same ranges (``contract.batch.split_ranges``, on the
run's sampling grid). The ranges still to run are those without a marker from an earlier attempt,
the same list on every host of this attempt; host ``i`` of ``n`` takes ranges ``i, i + n, ...`` of
it. A range's frames.jsonl and summary.json go to its part prefix, its per-frame pictures (mask
PNGs, frame images, ...) straight to the merged folder, then its marker. A host that finds every
range marked after writing one merges: the ranges' frames.jsonl in range order, and one summary.
Merging reads only what is in S3, so two hosts merging at once write the same bytes.

A tracked run's ranges run untracked and record their model's detections at full precision
(``reelsight.tracking.TRACKER_INPUT_FILE``, in the part prefix); the merger runs one tracker over
all the ranges' frames in order, so track ids, tracks.jsonl and the unique objects per class are
those of a one-host run (the tracker sees detections only, never the pictures).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from reelsight.contract.batch import (
    RANGES_FOLDER,
    JobPlan,
    Part,
    TimeRange,
    part_prefix,
    split_ranges,
    split_result_prefix,
)
from reelsight.contract.names import FRAMES_FILE, SUMMARY_FILE, TRACKS_FILE
from reelsight.contract.summary import RunSummary, merge_summaries
from reelsight.errors import ParamError
from reelsight.worker.part_store import CONTENT_TYPES, JSON_TYPE, PartStore
from reelsight.worker.planned import HostRun, marker_for, record_error
from reelsight.worker.processing import (
    InferFn,
    LoadFn,
    ProcessSettings,
    VideoOutcome,
    fail_before_any_video,
    make_reporter,
    process_one,
)
from reelsight.worker.progress import ProgressReporter

log = logging.getLogger("reelsight.worker.split")

INDEX_FILE = "index.jsonl"  # frames mode's list of images
NO_MAX_FRAMES = (
    "a split job cannot take max_frames: a range cannot know how many samples the ranges before it "
    "took; bound the run by time with start and end instead"
)


def run_split(
    settings: ProcessSettings, plan: JobPlan, store: PartStore, *, load: LoadFn, infer: InferFn
) -> int:
    """Run this host's share of the plan's time ranges, then merge when every range is done."""
    if settings.options.sampling.max_frames is not None:
        return fail_before_any_video(settings, NO_MAX_FRAMES, 2)
    run = HostRun(settings)
    rel = Path(plan.parts[0].relative_path)
    if not (settings.input_dir / rel).is_file():
        run.note(f"{rel.as_posix()} did not arrive on {settings.host.current_host}: nothing to do here")
        return run.finish(0)
    mine = my_parts(settings, plan, store)
    try:
        ranges = video_ranges(settings, settings.input_dir / rel, plan.ranges)
    except Exception as exc:  # an undecodable video: every range of this host fails with its reason
        for index in mine:
            record_error(settings, store, plan.parts[index], type(exc).__name__, str(exc))
        run.fail(exc)
        return run.finish(len(mine))
    reporter = make_reporter(settings)
    remaining = list(mine)
    try:
        predictor = load(settings) if mine and settings.mode == "infer" else None
        while remaining:
            _run_range(run, store, plan, remaining[0], ranges[remaining[0]], predictor, reporter, infer)
            remaining.pop(0)
    except Exception as exc:  # the model cannot load, or S3 cannot be listed for the merge
        run.fail(exc)
        for index in remaining:
            if not _has_marker(
                store, plan.parts[index].part_id
            ):  # a range done before a failed merge stays done
                record_error(settings, store, plan.parts[index], type(exc).__name__, str(exc))
    finally:
        if reporter is not None:
            reporter.close()
    return run.finish(len(mine))


def _has_marker(store: PartStore, part_id: str) -> bool:
    try:
        return store.marker(part_id) is not None
    except Exception:  # S3 is what failed: the range counts as not done
        return False


def my_parts(settings: ProcessSettings, plan: JobPlan, store: PartStore) -> list[int]:
    """This host's range indexes: every ``n``-th of those without a marker from an earlier attempt
    (this attempt's markers are left out, so every host of it sees the same list)."""
    earlier = {
        pid for pid, marker in store.markers(RANGES_FOLDER).items() if marker.attempt < settings.attempt
    }
    pending = [i for i, part in enumerate(plan.parts) if part.part_id not in earlier]
    mine = pending[settings.host.index :: settings.host.count]
    log.info(
        "%s (%d/%d): range(s) %s of %d pending, attempt %d",
        settings.host.current_host,
        settings.host.index + 1,
        settings.host.count,
        [plan.parts[i].part_id for i in mine],
        len(pending),
        settings.attempt,
    )
    return mine


def video_ranges(settings: ProcessSettings, path: Path, count: int) -> list[TimeRange]:
    """The plan's ranges of this video, on the run's sampling grid."""
    from reelsight.frames import probe

    sampling = settings.options.sampling.validate()
    info = probe(path)
    duration = info.duration or info.declared_duration or 0.0
    stop = sampling.end if sampling.end is not None else duration
    if stop <= sampling.start:
        raise ParamError(
            f"cannot split {path.name}: its duration ({duration:g} s) is unknown or not after start "
            f"({sampling.start:g} s)"
        )
    return split_ranges(
        start=sampling.start, stop=stop, interval=sampling.interval, count=count, end=sampling.end
    )


def _run_range(
    run: HostRun,
    store: PartStore,
    plan: JobPlan,
    index: int,
    span: TimeRange,
    predictor: Any,
    reporter: ProgressReporter | None,
    infer: InferFn,
) -> None:
    settings = run.settings
    part = plan.parts[index]
    if store.marker(part.part_id) is not None:
        run.note(f"{part.part_id} is already done: skipped")
        return
    scratch = Path(tempfile.mkdtemp(prefix=f"{part.part_id}-"))
    try:
        outcome = _run_one_range(settings, part, span, predictor, reporter, infer, scratch)
        run.outcomes.append(outcome)
        if outcome.error:
            record_error(settings, store, part, outcome.error["type"], outcome.error["message"])
            return
        try:
            _upload_range(store, plan, part, scratch)
            store.clear_error(part.part_id)
            store.write_marker(marker_for(settings, part, outcome, start=span.start, end=span.end))
        except Exception as exc:  # S3 refused: the range is not done
            log.error("%s: results upload failed: %s", part.part_id, exc)
            record_error(settings, store, part, type(exc).__name__, f"results upload failed: {exc}")
            run.outcomes[-1] = replace(
                outcome, status="failed", error={"type": type(exc).__name__, "message": str(exc)}
            )
            return
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    merge_when_complete(settings, plan, store)


def stitches_tracks(settings: ProcessSettings) -> bool:
    """Whether the ranges run untracked and the merger tracks them as one run."""
    return settings.mode == "infer" and settings.options.track


def _run_one_range(
    settings: ProcessSettings,
    part: Part,
    span: TimeRange,
    predictor: Any,
    reporter: ProgressReporter | None,
    infer: InferFn,
    scratch: Path,
) -> VideoOutcome:
    """The range through the pipeline into ``scratch``: the run's options with the range's start and
    end; a tracked run's range runs untracked and records its detections for the merger."""
    sampling = replace(settings.options.sampling, start=span.start, end=span.end)
    options = replace(settings.options, sampling=sampling)
    if not stitches_tracks(settings):
        ranged = replace(settings, options=options)
        return process_one(
            ranged, Path(part.relative_path), part.part_id, predictor, reporter, infer,
            out_dir=scratch, report_as=part.part_id,
        )  # fmt: skip
    from reelsight.tracking import TRACKER_INPUT_FILE, RecordingPredictor

    ranged = replace(settings, options=replace(options, track=False))
    with (scratch / TRACKER_INPUT_FILE).open("w", encoding="utf-8") as handle:
        recording = RecordingPredictor(predictor, handle, with_masks="masks" not in options.include)
        return process_one(
            ranged, Path(part.relative_path), part.part_id, recording, reporter, infer,
            out_dir=scratch, report_as=part.part_id,
        )  # fmt: skip


def _upload_range(store: PartStore, plan: JobPlan, part: Part, folder: Path) -> None:
    """The range's own files (frames.jsonl, summary.json, ...) to its part prefix; the per-frame
    pictures, in folders, to the merged result, where frames.jsonl's relative paths point."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    store.upload_tree(
        folder, part_prefix(plan.job_id, part.part_id), only=[p for p in files if p.parent == folder]
    )
    pictures = [p for p in files if p.parent != folder]
    store.upload_tree(folder, split_result_prefix(plan), only=pictures)


def merge_when_complete(settings: ProcessSettings, plan: JobPlan, store: PartStore) -> bool:
    """Merge when every range has its marker; whether it did."""
    done = store.markers(RANGES_FOLDER)
    missing = [pid for pid in plan.part_ids if pid not in done]
    if missing:
        log.info("%d range(s) still to finish: %s", len(missing), ", ".join(missing[:10]))
        return False
    merge(settings, plan, store)
    return True


def merge(settings: ProcessSettings, plan: JobPlan, store: PartStore) -> None:
    """The ranges as one result under the merged prefix, from what is in S3 alone."""
    target = split_result_prefix(plan)
    lines = FRAMES_FILE if settings.mode == "infer" else INDEX_FILE
    sources = [part_prefix(plan.job_id, pid) + lines for pid in plan.part_ids]
    unique = None
    if stitches_tracks(settings):
        unique = stitch(settings, plan, store, target)
    else:
        store.concatenate(sources, target + lines, CONTENT_TYPES[".jsonl"])
    if settings.mode == "infer":
        from reelsight.contract.cost import receipt_from_environment
        from reelsight.contract.options import tracking_warnings

        parts = [
            RunSummary.from_json(json.loads(store.read(part_prefix(plan.job_id, pid) + SUMMARY_FILE)))
            for pid in plan.part_ids
        ]
        merged = merge_summaries(
            parts,
            params=settings.options.to_dict(),
            unique_objects_per_class=unique,
            more_warnings=tracking_warnings(settings.options),
        )
        merged.receipt = receipt_from_environment(merged, os.environ)
        body = json.dumps(merged.to_json(), indent=2) + "\n"
        store.s3.put_object(
            Bucket=store.bucket, Key=target + SUMMARY_FILE, Body=body.encode(), ContentType=JSON_TYPE
        )
    log.info("merged %d range(s) into %s", len(plan.part_ids), target)


def stitch(settings: ProcessSettings, plan: JobPlan, store: PartStore, target: str) -> dict[str, int]:
    """The merged frames.jsonl and tracks.jsonl of a tracked run: the ranges' frames, in order,
    through one tracker with the detections their model returned; the unique objects per class.

    The ranges' files are joined into temporary files and streamed a line at a time, so memory
    stays flat however long the video (the tracker holds one frame and the live tracks)."""
    from reelsight.contract.options import sampling_rate
    from reelsight.contract.tracks import unique_objects_per_class, write_tracks_jsonl
    from reelsight.results import FramesWriter, read_frames_jsonl
    from reelsight.tracking import TRACKER_INPUT_FILE, FrameTracker, read_tracker_input, stitch_frames

    prefixes = [part_prefix(plan.job_id, pid) for pid in plan.part_ids]
    tracker: FrameTracker[None] = FrameTracker(sampling_rate(settings.options))
    with tempfile.TemporaryDirectory(prefix="stitch-") as tmp:
        folder = Path(tmp)
        store.join([p + FRAMES_FILE for p in prefixes], folder / "ranges.jsonl")
        _join_tracker_input(store, plan, folder / TRACKER_INPUT_FILE)
        frames = stitch_frames(
            tracker,
            read_frames_jsonl(folder / "ranges.jsonl"),
            read_tracker_input(folder / TRACKER_INPUT_FILE),
            keep_masks="masks" in settings.options.include,
        )
        with FramesWriter(folder / FRAMES_FILE) as writer:
            writer.write_all(frames)
        write_tracks_jsonl(folder / TRACKS_FILE, tracker.tracks)
        store.upload(folder / FRAMES_FILE, target + FRAMES_FILE, CONTENT_TYPES[".jsonl"])
        store.upload(folder / TRACKS_FILE, target + TRACKS_FILE, CONTENT_TYPES[".jsonl"])
    return unique_objects_per_class(tracker.tracks)


def _join_tracker_input(store: PartStore, plan: JobPlan, path: Path) -> None:
    from reelsight.tracking import TRACKER_INPUT_FILE

    keys = [part_prefix(plan.job_id, pid) + TRACKER_INPUT_FILE for pid in plan.part_ids]
    missing = [pid for pid, key in zip(plan.part_ids, keys, strict=True) if not store.exists(key)]
    if missing:
        raise RuntimeError(
            f"cannot track the ranges as one run: {', '.join(missing)} left no {TRACKER_INPUT_FILE} "
            "(an older worker ran them); start a new job for this video"
        )
    store.join(keys, path)
