"""Throttled, best-effort progress reports to the reelsight API.

``POST {api_url}/v1/jobs/{job_id}/progress`` with ``{"video", "frames_done", "frames_total"}``
and ``Authorization: Bearer <token>``, over https verified against the API host's pinned certificate
(``reelsight.tls``) when the URL is https. Reports go out from a background thread with short
timeouts and a couple of retries, so a slow or absent API never slows or fails the job.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from reelsight.tls import PinnedCertificate, explain

log = logging.getLogger("reelsight.worker.progress")

_STOP = object()
# What the API's progress report accepts beside the frame counts (reelsight.api.schemas.ProgressReport).
_ENTRY_FIELDS = frozenset({"stage", "decode_fps", "inference_fps", "eta_seconds", "parts"})


class BackgroundSender(ABC):
    """Hands items to a sink from one daemon thread, so a slow or absent sink never slows the job.

    The queue is bounded (an item that does not fit is dropped), and :meth:`_due` throttles per key:
    at most one item every ``min_interval`` seconds, except the first and the final ones. Subclasses
    deliver in :meth:`_deliver`, which must not raise.
    """

    def __init__(
        self, *, name: str, min_interval: float, maxsize: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.min_interval = min_interval
        self.clock = clock
        self._last_queued: dict[str, float] = {}
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=maxsize)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _due(self, key: str, final: bool) -> bool:
        """True (and the time noted) when an item for ``key`` may go out now."""
        now = self.clock()
        last = self._last_queued.get(key)
        if not final and last is not None and now - last < self.min_interval:
            return False
        self._last_queued[key] = now
        return True

    def _enqueue(self, item: Any) -> bool:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            log.debug("%s: queue full; item dropped", self._thread.name)
            return False
        return True

    def close(self, wait: float = 10.0) -> None:
        """Send what is queued (bounded by ``wait`` seconds) and stop."""
        try:
            self._queue.put(_STOP, timeout=wait)
        except queue.Full:
            return
        self._thread.join(wait)

    def _run(self) -> None:
        while (item := self._queue.get()) is not _STOP:
            self._deliver(item)

    @abstractmethod
    def _deliver(self, item: Any) -> None:
        """Hand one item to the sink; must not raise (a failed delivery is logged and counted)."""


class ProgressReporter(BackgroundSender):
    def __init__(
        self,
        api_url: str,
        token: str,
        job_id: str,
        *,
        min_interval: float = 2.0,
        timeout: float = 2.0,
        retries: int = 2,
        backoff: float = 0.3,
        pinned: PinnedCertificate | None = None,
    ) -> None:
        self.url = f"{api_url.rstrip('/')}/v1/jobs/{quote(job_id, safe='')}/progress"
        self._pinned = pinned
        self._context = pinned.context() if pinned and self.url.startswith("https:") else None
        self._token = token
        self._timeout = timeout
        self._retries = retries
        self._backoff = backoff
        self.sent = 0
        self.failed = 0
        super().__init__(name="progress", min_interval=min_interval, maxsize=64)

    def update(
        self,
        video: str,
        frames_done: int,
        frames_total: int | None,
        *,
        final: bool = False,
        entry: Mapping[str, Any] | None = None,
    ) -> None:
        """Queue a report; between two reports for one video at least ``min_interval`` passes,
        except for the first and the final one, which always go out. ``entry`` is the rest of a
        ``VideoProgress`` (stage, rates, ETA, parts), sent along when given."""
        if not self._due(video, final):
            return
        extra = {k: v for k, v in (entry or {}).items() if k in _ENTRY_FIELDS}
        self._enqueue(
            {**extra, "video": video, "frames_done": int(frames_done), "frames_total": frames_total}
        )

    def _deliver(self, item: Any) -> None:
        if self._post(item):
            self.sent += 1
        else:
            self.failed += 1

    def _post(self, payload: dict[str, Any]) -> bool:
        data = json.dumps(payload).encode("utf-8")
        for attempt in range(self._retries + 1):
            request = urllib.request.Request(
                self.url,
                data=data,
                method="POST",
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {self._token}"},
            )
            try:
                timeout, context = self._timeout, self._context
                with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
                    response.read()
                return True
            except urllib.error.HTTPError as exc:
                if exc.code < 500 and exc.code != 429:
                    log.warning("progress report refused by %s: HTTP %d", self.url, exc.code)
                    return False
                error: Exception = exc
            except (urllib.error.URLError, OSError, TimeoutError) as exc:
                error = exc
            if attempt < self._retries:
                time.sleep(self._backoff * (attempt + 1))
        log.warning("progress report failed: %s", explain(error, self.url, self._pinned))
        return False
