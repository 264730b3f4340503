"""``reelsight serve``: SageMaker's container contract over a threaded HTTP server.

``GET /ping`` answers 200 once the model is loaded (503 before), ``POST /invocations`` runs
one video through the handler functions, ``GET /metrics`` reports in-flight and waiting
invocations. At most ``max_concurrency`` invocations run at once; the others wait their turn.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any, cast
from urllib.parse import urlsplit

from reelsight.contract.jobs import JobsTable
from reelsight.contract.names import FRAMES_FILE
from reelsight.errors import ModelError, ReelsightError
from reelsight.params import RunOptions
from reelsight.worker import handler
from reelsight.worker.artifacts import ArtifactStore
from reelsight.worker.config import ServeConfig
from reelsight.worker.live import LiveJob, PartUploader, TableProgress

log = logging.getLogger("reelsight.worker")

CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
INFERENCE_ID = "X-Amzn-SageMaker-Inference-Id"


class WorkerState:
    """The loaded model and the invocation counters shared by all request threads."""

    def __init__(
        self,
        config: ServeConfig,
        defaults: RunOptions,
        *,
        weights_from_env: bool,
        store: ArtifactStore | None,
        jobs: JobsTable | None = None,
    ) -> None:
        self.config = config
        self.jobs = jobs
        self.defaults = defaults
        self.weights_from_env = weights_from_env
        self.store = store
        self.model: handler.LoadedModel | None = None
        self.load_error: str | None = None
        self._slots = threading.Semaphore(config.max_concurrency)
        self._lock = threading.Lock()
        self.in_flight = 0
        self.waiting = 0
        self.max_in_flight = 0
        self.completed = 0
        self.failed = 0

    def load(self) -> None:
        started = time.monotonic()
        self.model = handler.model_fn(
            self.config.model_dir,
            self.defaults,
            weights_from_env=self.weights_from_env,
            hold_file=self.config.hold_file,
        )
        log.info(
            "model %s loaded from %s in %.1fs",
            self.model.options.model,
            self.model.source,
            time.monotonic() - started,
        )

    def live_job(self, job_id: str, video: str, out_dir: Path) -> LiveJob:
        """Progress in the jobs table (when configured) and parts in S3 (when there is a store)."""
        config = self.config
        table = None
        if self.jobs is not None:
            table = TableProgress(self.jobs, job_id, video, min_interval=config.progress_interval)
        parts = None
        if self.store is not None:
            parts = PartUploader(
                self.store.client,
                self.store.bucket,
                job_id,
                out_dir / FRAMES_FILE,
                policy=config.part_policy,
                root=self.store.prefix,
            )
        return LiveJob(table, parts)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """One of ``max_concurrency`` invocation slots; waits (never refuses) when all are taken."""
        with self._lock:
            self.waiting += 1
        self._slots.acquire()
        with self._lock:
            self.waiting -= 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            yield
        finally:
            with self._lock:
                self.in_flight -= 1
            self._slots.release()

    def count(self, ok: bool) -> None:
        with self._lock:
            if ok:
                self.completed += 1
            else:
                self.failed += 1

    def metrics(self) -> dict[str, Any]:
        with self._lock:
            return {
                "model_loaded": self.model is not None,
                "model": self.model.options.model if self.model else None,
                "max_concurrency": self.config.max_concurrency,
                "in_flight": self.in_flight,
                "waiting": self.waiting,
                "max_in_flight": self.max_in_flight,
                "completed": self.completed,
                "failed": self.failed,
            }


class WorkerServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: WorkerState) -> None:
        super().__init__(address, WorkerRequestHandler)
        self.state = state


class WorkerRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: WorkerServer

    def log_message(self, format: str, *args: Any) -> None:
        # SageMaker pings every few seconds; those lines only matter when debugging.
        level = logging.DEBUG if urlsplit(getattr(self, "path", "")).path == "/ping" else logging.INFO
        log.log(level, "%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        state = self.server.state
        if path == "/ping":
            if state.model is not None:
                self._send_json(200, {"status": "ok", "model": state.model.options.model})
            else:
                self._send_json(503, {"status": "loading"})
        elif path == "/metrics":
            self._send_json(200, state.metrics())
        else:
            self._send_json(404, handler.error_body(LookupError(f"no such path: {path}")))

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path != "/invocations":
            self.close_connection = True
            self._send_json(404, handler.error_body(LookupError(f"no such path: {path}")))
            return
        self._invoke()

    def _invoke(self) -> None:
        state = self.server.state
        started = time.monotonic()
        body_read = False
        job_id = ""
        try:
            model = state.model
            if model is None:
                raise handler.RequestError(
                    "the model is still loading; retry after GET /ping answers 200", 503
                )
            request = handler.request_options(
                model, self.headers.get(CUSTOM_ATTRIBUTES), self.headers.get(INFERENCE_ID)
            )
            job_id = request.job_id
            content_type = self.headers.get("Content-Type")
            handler.check_content_type(content_type)
            length, chunked = self._body_framing()
            if length is not None and length > state.config.max_body_bytes:
                raise handler.PayloadTooLarge(
                    f"the body is {length} bytes; this worker accepts at most {state.config.max_body_bytes}"
                )
            with state.slot():
                work_dir = handler.new_work_dir()
                try:
                    video = handler.input_fn(
                        cast(IO[bytes], self.rfile),
                        content_length=length,
                        chunked=chunked,
                        content_type=content_type,
                        work_dir=work_dir,
                        max_bytes=state.config.max_body_bytes,
                    )
                    body_read = True
                    out_dir = work_dir / "out"
                    live = state.live_job(job_id, _video_name(request.video_uri, job_id), out_dir)
                    live.start()
                    ok = False
                    try:
                        summary = handler.predict_fn(video, model, request, out_dir, snapshot=live)
                        body = handler.output_fn(
                            summary,
                            out_dir,
                            job_id=job_id,
                            store=state.store,
                            max_response_bytes=state.config.max_response_bytes,
                        )
                        ok = True
                    finally:
                        live.finish(ok)
                finally:
                    handler.remove_work_dir(work_dir)
        except Exception as exc:  # every failure becomes a JSON error answer
            status = handler.http_status_of(exc)
            if status >= 500:
                log.error("invocation %s failed:\n%s", job_id or "-", traceback.format_exc())
            else:
                log.info("invocation %s rejected (%d): %s", job_id or "-", status, exc)
            state.count(ok=False)
            self.close_connection = self.close_connection or not body_read
            self._send_json(status, handler.error_body(exc), job_id)
            return
        state.count(ok=True)
        log.info("invocation %s done in %.1fs (%d bytes)", job_id, time.monotonic() - started, len(body))
        self._send(200, body, job_id)

    def _body_framing(self) -> tuple[int | None, bool]:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return None, True
        raw = self.headers.get("Content-Length")
        if raw is None:
            return None, False
        try:
            length = int(raw)
        except ValueError:
            raise handler.RequestError(f"Content-Length must be an integer, got {raw!r}") from None
        if length < 0:
            raise handler.RequestError(f"Content-Length must be >= 0, got {length}")
        return length, False

    def _send_json(self, status: int, payload: dict[str, Any], job_id: str = "") -> None:
        self._send(status, json.dumps(payload).encode("utf-8"), job_id)

    def _send(self, status: int, body: bytes, job_id: str = "") -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if job_id:
                self.send_header("X-Reelsight-Job-Id", job_id)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            log.info("client went away before the answer was sent")


def serve(
    config: ServeConfig, defaults: RunOptions, *, weights_from_env: bool, store: ArtifactStore | None = None
) -> int:
    """Listen at once (``/ping`` answers 503 while loading), load the model, serve until SIGTERM."""
    state = WorkerState(config, defaults, weights_from_env=weights_from_env, store=store, jobs=_jobs(config))
    server = WorkerServer((config.host, config.port), state)
    port = server.server_address[1]
    print(f"reelsight serve: listening on http://{config.host}:{port}", file=sys.stderr, flush=True)

    def stop(*_: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    def load() -> None:
        try:
            state.load()
        except Exception as exc:
            state.load_error = f"{type(exc).__name__}: {exc}"
            log.error("model load failed: %s", state.load_error)
            if not isinstance(exc, ReelsightError):
                log.error("%s", traceback.format_exc())
            stop()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    threading.Thread(target=load, name="model-load", daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    if state.load_error:
        print(f"reelsight serve: error: model load failed: {state.load_error}", file=sys.stderr, flush=True)
        return ModelError.exit_code
    return 0


def _jobs(config: ServeConfig) -> JobsTable | None:
    """The jobs table, with short timeouts and few retries: progress is best effort."""
    if not config.jobs_table:
        return None
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "dynamodb", config=Config(connect_timeout=2, read_timeout=3, retries={"max_attempts": 2})
    )
    return JobsTable(client, config.jobs_table)


def _video_name(video_uri: str | None, job_id: str) -> str:
    """The progress map's key for an invocation: the video's file name, as the dispatcher names it."""
    name = (video_uri or "").rstrip("/").rsplit("/", 1)[-1]
    return name or job_id
