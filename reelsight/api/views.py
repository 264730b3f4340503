"""Job records (as the jobs table's contract reads them) turned into the API's response shapes."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from reelsight.api.store import JobStore
from reelsight.contract.batch import is_job_input
from reelsight.contract.jobs import JobRecord, JobStatus, parse_time, time_text
from reelsight.contract.names import (
    FRAMES_FILE,
    PARTS_FOLDER,
    SUMMARY_FILE,
    job_prefix,
    parts_prefix,
    s3_location_or_none,
)
from reelsight.contract.progress import VideoProgress, job_progress
from reelsight.contract.summary import ShortSummary

LIST_FIELDS = ("job_id", "status", "route", "source", "created_at", "updated_at", "reason", "progress")
DETAIL_FIELDS = (*LIST_FIELDS, "params", "status_history", "summary", "output_location", "durations")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
NAMED_ARTIFACTS = {
    "contact_sheet.png": "contact_sheet",
    "preview.mp4": "preview",
    FRAMES_FILE: "frames_jsonl",
    SUMMARY_FILE: "summary",
}


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return int(value)


def _live_fields(progress: VideoProgress | None) -> dict[str, Any]:
    """What the worker reports beyond the frame counts (contract/progress.py); None while unknown."""
    if progress is None:
        return {"stage": None, "percent": None, "decode_fps": None, "inference_fps": None,
                "eta_seconds": None, "parts": 0}  # fmt: skip
    return {
        "stage": progress.stage,
        "percent": progress.percent,
        "decode_fps": progress.decode_fps,
        "inference_fps": progress.inference_fps,
        "eta_seconds": progress.eta_seconds,
        "parts": progress.parts,
    }


def progress_view(record: JobRecord) -> dict[str, Any]:
    """The job's progress: the frames summed over its videos (job_progress), the stage, percent,
    rates and ETA the worker last reported, and each video's entry."""
    videos: dict[str, dict[str, Any]] = {}
    readable: dict[str, Any] = {}
    for name, entry in (record.progress or {}).items():
        if not isinstance(entry, dict) or _count(entry.get("frames_done")) is None:
            continue
        readable[str(name)] = entry
        videos[str(name)] = {
            "frames_done": _count(entry.get("frames_done")),
            "frames_total": _count(entry.get("frames_total")),
            "updated_at": time_text(entry.get("updated_at")),
            **_live_fields(VideoProgress.from_json(entry)),
        }
    done = sum(v["frames_done"] for v in videos.values())
    totals = [v["frames_total"] for v in videos.values()]
    total = sum(totals) if totals and None not in totals else None
    summary = record.summary or {}
    if not videos and _count(summary.get("frames_sampled")) is not None:
        done = total = _count(summary.get("frames_sampled")) or 0
    fraction = min(1.0, done / total) if total else None
    if record.status is JobStatus.SUCCEEDED:
        fraction = 1.0
    live = _live_fields(job_progress(readable))
    if record.status is JobStatus.SUCCEEDED:
        live["percent"] = 100.0
    elif live["percent"] is None and fraction is not None:
        live["percent"] = round(100 * fraction, 1)
    return {"frames_done": done, "frames_total": total, "fraction": fraction, **live, "videos": videos}


def list_item(record: JobRecord) -> dict[str, Any]:
    return {
        "job_id": record.job_id,
        "status": record.status_text,
        "route": record.route,
        "source": record.source,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "reason": record.reason,
        "progress": progress_view(record),
    }


def _durations(record: JobRecord) -> dict[str, float]:
    """The job's durations as the results handler wrote them, plus ``elapsed_seconds``."""
    durations: dict[str, float] = {}
    for name, seconds in (record.durations or {}).items():
        if isinstance(seconds, int | float) and not isinstance(seconds, bool):
            durations[str(name)] = float(seconds)
    created = parse_time(record.created_at)
    if created:
        end = parse_time(record.updated_at) if record.terminal else datetime.now(UTC)
        if end and end >= created:
            durations["elapsed_seconds"] = round((end - created).total_seconds(), 3)
    return durations


def short_summary_of(record: JobRecord) -> ShortSummary | None:
    """The record's ``summary`` (the short form the results handler stores), or None."""
    stored = record.summary
    return ShortSummary.from_json(stored) if stored is not None else None


def _run_timings(record: JobRecord, short: ShortSummary | None) -> dict[str, float] | None:
    """The run's phases under the pipeline's names; None when the record holds none."""
    stored = record.summary or {}
    return short.timings.to_json() if short is not None and "timings" in stored else None


def receipt_of(short: ShortSummary | None) -> dict[str, Any] | None:
    """The run's cost receipt (the short summary's ``receipt``), once the run has one."""
    return short.receipt.to_json() if short is not None and short.receipt is not None else None


def running_parts(objects: list[dict[str, Any]], job_id: str) -> list[str]:
    """The keys of the result parts written so far (names.part_key), in order."""
    prefix = parts_prefix(job_id)
    keys = [o["key"] for o in objects if o["key"].startswith(prefix) and o["key"].endswith(".jsonl")]
    return sorted(keys, key=lambda key: (frame_index_of(key) or 0, key))


def result_parts(objects: list[dict[str, Any]]) -> tuple[str, str] | None:
    """The shallowest summary.json with a frames.jsonl beside it: ``artifacts/`` of an async job,
    ``output/<video>/`` of a Processing job."""
    keys = {o["key"] for o in objects}
    summaries = sorted(
        (k for k in keys if k.rsplit("/", 1)[-1] == SUMMARY_FILE), key=lambda k: (k.count("/"), k)
    )
    for summary in summaries:
        frames = summary[: -len(SUMMARY_FILE)] + FRAMES_FILE
        if frames in keys:
            return summary, frames
    return None


def frame_index_of(key: str) -> int | None:
    """The frame index in a frame image's name (its first number): frames/frame_000012.jpg -> 12."""
    stem = key.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    numbers = re.findall(r"\d+", stem)
    return int(numbers[0]) if numbers else None


def _artifact_links(
    objects: list[dict[str, Any]], prefix: str, store: JobStore
) -> tuple[dict[str, str], list[dict[str, Any]], dict[str, str]]:
    """-> (links by artifact, downloads, frame images by index) of the objects under ``prefix``."""
    links: dict[str, str] = {}
    downloads: list[dict[str, Any]] = []
    frame_images: dict[str, str] = {}
    for obj in objects:
        key = obj["key"]
        name = key[len(prefix) :]
        parts = name.split("/")
        if "frames" in parts[:-1] and key.lower().endswith(IMAGE_SUFFIXES):
            index = frame_index_of(key)
            if index is not None:
                frame_images.setdefault(str(index), store.presign_get(store.results_bucket, key))
            continue
        if {"masks", "class_maps", PARTS_FOLDER.rstrip("/")} & set(parts[:-1]) or is_job_input(name):
            continue
        url = store.presign_get(store.results_bucket, key)
        downloads.append({"name": name, "key": key, "size": obj["size"], "url": url})
        label = NAMED_ARTIFACTS.get(parts[-1])
        if label:
            links.setdefault(label, url)
        elif parts[0] == "failure":
            links.setdefault("failure", url)
    return links, downloads, frame_images


def detail(record: JobRecord, store: JobStore, objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The job's detail; ``objects`` are its objects in the results bucket (``list_job_objects``)."""
    job_id = record.job_id
    short = short_summary_of(record)
    links, downloads, frame_images = _artifact_links(objects, job_prefix(job_id), store)
    for label, uri in (short.artifacts if short else {}).items():
        location = s3_location_or_none(uri)
        if location and location[0] == store.results_bucket and not location[1].endswith("/"):
            links[str(label)] = store.presign_get(*location)
    failure = s3_location_or_none(record.failure_location)
    if failure and failure[0] == store.results_bucket:
        links["failure"] = store.presign_get(*failure)
    has_result = result_parts(objects) is not None
    has_frames = has_result or bool(running_parts(objects, job_id))
    extra = {k: v for k, v in record.to_item().items() if k not in DETAIL_FIELDS}
    return {
        **list_item(record),
        "params": record.params if record.params is not None else record.extra.get("params"),
        "status_history": record.status_history or [],
        "timings": _run_timings(record, short),
        "durations": _durations(record),
        "summary": short.to_json() if short else None,
        "receipt": receipt_of(short),
        "output_location": record.output_location,
        "links": links,
        "downloads": downloads,
        "frame_images": frame_images,
        "summary_url": f"/v1/jobs/{job_id}/summary" if has_result else None,
        "frames_url": f"/v1/jobs/{job_id}/frames" if has_frames else None,
        "frames_final": has_result,
        "extra": extra,
    }
