"""Job records (as other components wrote them) turned into the API's response shapes."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from reelsight.api.store import TERMINAL_STATUSES, JobStore, iso, parse_time, split_s3_uri

SUCCESS_STATUSES = frozenset({"succeeded", "completed"})
LIST_FIELDS = ("job_id", "status", "route", "source", "created_at", "updated_at", "reason", "progress")
DETAIL_FIELDS = (*LIST_FIELDS, "params", "status_history", "summary", "output_location", "durations")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
NAMED_ARTIFACTS = {
    "contact_sheet.png": "contact_sheet",
    "preview.mp4": "preview",
    "frames.jsonl": "frames_jsonl",
    "summary.json": "summary",
}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _time_text(value: Any) -> str | None:
    parsed = parse_time(value)
    if parsed is not None:
        return iso(parsed)
    return value if isinstance(value, str) and value else None


def _mapping(value: Any) -> dict[str, Any] | None:
    """A map field, also when a writer stored it as a JSON string."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return int(value)


def progress_view(record: dict[str, Any]) -> dict[str, Any]:
    videos: dict[str, dict[str, Any]] = {}
    for name, entry in (_mapping(record.get("progress")) or {}).items():
        if not isinstance(entry, dict) or _count(entry.get("frames_done")) is None:
            continue
        videos[str(name)] = {
            "frames_done": _count(entry.get("frames_done")),
            "frames_total": _count(entry.get("frames_total")),
            "updated_at": _time_text(entry.get("updated_at")),
        }
    done = sum(v["frames_done"] for v in videos.values())
    totals = [v["frames_total"] for v in videos.values()]
    total = sum(totals) if totals and None not in totals else None
    summary = _mapping(record.get("summary")) or {}
    if not videos and _count(summary.get("frames_sampled")) is not None:
        done = total = _count(summary.get("frames_sampled")) or 0
    fraction = min(1.0, done / total) if total else None
    if str(record.get("status", "")).lower() in SUCCESS_STATUSES:
        fraction = 1.0
    return {"frames_done": done, "frames_total": total, "fraction": fraction, "videos": videos}


def list_item(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "job_id": str(record.get("job_id", "")),
        "status": _text(record.get("status")),
        "route": _text(record.get("route")),
        "source": record.get("source"),
        "created_at": _time_text(record.get("created_at")),
        "updated_at": _time_text(record.get("updated_at")),
        "reason": _text(record.get("reason")),
        "progress": progress_view(record),
    }


def _history(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    return [entry if isinstance(entry, dict) else {"status": str(entry)} for entry in value]


def _timings(record: dict[str, Any], summary: dict[str, Any] | None) -> dict[str, float]:
    timings: dict[str, float] = {}
    sources = (_mapping(record.get("durations")) or {}, (summary or {}).get("timings") or {})
    for source in sources:
        for name, seconds in source.items() if isinstance(source, dict) else ():
            if isinstance(seconds, int | float) and not isinstance(seconds, bool):
                timings.setdefault(str(name), float(seconds))
    created = parse_time(record.get("created_at"))
    if created:
        terminal = str(record.get("status", "")).lower() in TERMINAL_STATUSES
        end = parse_time(record.get("updated_at")) if terminal else datetime.now(UTC)
        if end and end >= created:
            timings["elapsed_seconds"] = round((end - created).total_seconds(), 3)
    return timings


def frame_index_of(key: str) -> int | None:
    """The frame index in a frame image's name (its first number): frames/frame_000012.jpg -> 12."""
    stem = key.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    numbers = re.findall(r"\d+", stem)
    return int(numbers[0]) if numbers else None


def detail(record: dict[str, Any], store: JobStore) -> dict[str, Any]:
    job_id = str(record.get("job_id", ""))
    summary = _mapping(record.get("summary"))
    objects = store.list_job_objects(job_id)
    prefix = f"jobs/{job_id}/"
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
        if {"masks", "class_maps"} & set(parts[:-1]):
            continue
        url = store.presign_get(store.results_bucket, key)
        downloads.append({"name": name, "key": key, "size": obj["size"], "url": url})
        label = NAMED_ARTIFACTS.get(parts[-1])
        if label:
            links.setdefault(label, url)
        elif parts[0] == "failure":
            links.setdefault("failure", url)
    for label, uri in ((summary or {}).get("artifacts") or {}).items():
        location = split_s3_uri(uri)
        if location and location[0] == store.results_bucket and not location[1].endswith("/"):
            links[str(label)] = store.presign_get(*location)
    failure = split_s3_uri(record.get("failure_location"))
    if failure and failure[0] == store.results_bucket:
        links["failure"] = store.presign_get(*failure)
    result_key = store.result_location(job_id, record, objects)
    if result_key:
        links["result"] = store.presign_get(store.results_bucket, result_key)
    has_parts = "summary" in links and "frames_jsonl" in links
    extra = {k: v for k, v in record.items() if k not in DETAIL_FIELDS}
    return {
        **list_item(record),
        "params": _mapping(record.get("params")) or record.get("params"),
        "status_history": _history(record.get("status_history")),
        "timings": _timings(record, summary),
        "summary": summary,
        "output_location": _text(record.get("output_location")),
        "links": links,
        "downloads": downloads,
        "frame_images": frame_images,
        "result_url": f"/v1/jobs/{job_id}/result" if result_key or has_parts else None,
        "extra": extra,
    }
