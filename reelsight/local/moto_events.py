"""The local stack's moto server, with S3 event notifications shaped as AWS writes them.

moto's S3 notifications omit two fields of the object that AWS always sends: ``versionId`` on a
versioned bucket, and ``sequencer``, which differs for every write of a key and is the same when
one event is delivered twice. The dispatcher keys jobs on them, so without them a second upload of
the same bytes would look like a redelivery. This entry point adds both before moto sends the
event, from the object that moto just stored, and then runs moto's own server unchanged:

    python -m reelsight.local.moto_events -H 127.0.0.1 -p 5000
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

SEQUENCER_DIGITS = 16  # AWS's sequencers are hex strings of this length

_lock = threading.Lock()
_last = 0


def next_sequencer() -> str:
    """A hex string that grows with every call (nanosecond clock, never repeated)."""
    global _last
    with _lock:
        _last = max(_last + 1, time.time_ns())
        return f"{_last:0{SEQUENCER_DIGITS}X}"


def sequencer_of(key: Any) -> str:
    """The sequencer of one stored write: made once per object version, so that every
    notification about that write (to every destination) carries the same one."""
    existing = getattr(key, "reelsight_sequencer", None)
    if isinstance(existing, str):
        return existing
    value = next_sequencer()
    key.reelsight_sequencer = value
    return value


def enrich(event: dict[str, Any], bucket: Any, key: Any) -> dict[str, Any]:
    """``event`` (moto's S3 notification) with the object's ``versionId`` and ``sequencer``."""
    for record in event.get("Records") or []:
        obj = record.setdefault("s3", {}).setdefault("object", {})
        if getattr(bucket, "is_versioned", False) and obj.get("versionId") is None:
            obj["versionId"] = key.version_id
        obj.setdefault("sequencer", sequencer_of(key))
    return event


def install() -> None:
    """Wrap moto's S3 event builder so that every notification it sends is enriched."""
    from moto.s3 import notifications

    original: Callable[..., dict[str, Any]] = notifications._get_s3_event
    if getattr(original, "reelsight_enriched", False):
        return

    def get_s3_event(event_name: str, bucket: Any, key: Any, notification_id: str) -> dict[str, Any]:
        return enrich(original(event_name, bucket, key, notification_id), bucket, key)

    get_s3_event.reelsight_enriched = True  # type: ignore[attr-defined]
    notifications._get_s3_event = get_s3_event


def main(argv: list[str] | None = None) -> None:
    install()
    from moto.server import main as moto_main

    moto_main(argv)


if __name__ == "__main__":
    main()
