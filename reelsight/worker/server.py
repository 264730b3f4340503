"""``reelsight serve``: SageMaker's container contract on uvicorn and Starlette.

``GET /ping`` answers 200 once the model is loaded (503 before), ``POST /invocations`` runs
one video through the handler functions, ``GET /metrics`` reports the invocation counters.

The event loop only moves bytes: each body is streamed to a file in this process's temporary
directory, within a read timeout and a size bound (uvicorn's h11 decodes the chunked framing).
Then the invocation waits for one of ``max_concurrency`` slots and runs in a pool of as many
threads, so a client that stalls never holds a slot and the inference never blocks the loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import re
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive
from uvicorn.protocols.http.h11_impl import H11Protocol

from reelsight import envvars
from reelsight.contract.jobs import JobsTable
from reelsight.contract.names import FRAMES_FILE
from reelsight.errors import ModelError, ParamError, ReelsightError
from reelsight.http_deadline import head_deadline_protocol, timeout_answer
from reelsight.params import RunOptions
from reelsight.worker import handler, scratch
from reelsight.worker.artifacts import ArtifactStore
from reelsight.worker.config import ServeConfig
from reelsight.worker.live import LiveJob, PartUploader, TableProgress

log = logging.getLogger("reelsight.worker")

CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
INFERENCE_ID = "X-Amzn-SageMaker-Inference-Id"
JOB_ID_HEADER = "X-Reelsight-Job-Id"
# What a client sees instead of a path in the worker's temporary directory.
BODY_NAME = "the request body"
TEMP_NAME = "a temporary file"
# The name input_fn gives the body's file (input.mp4, input.bin), as readers' messages quote it.
_BODY_FILE = re.compile(r"(?<![\w/.-])input\.[A-Za-z0-9]{1,5}\b")


class ClientGone(handler.RequestError):
    """The client closed the connection before its body was complete; nobody reads the answer."""


class WorkerState:
    """The loaded model, the invocation slots and the counters shared by the loop and the pool."""

    def __init__(
        self,
        config: ServeConfig,
        defaults: RunOptions,
        *,
        weights_from_env: bool,
        store: ArtifactStore | None,
        scratch_dir: scratch.Scratch,
        jobs: JobsTable | None = None,
    ) -> None:
        self.config = config
        self.jobs = jobs
        self.defaults = defaults
        self.weights_from_env = weights_from_env
        self.store = store
        self.scratch = scratch_dir
        self.model: handler.LoadedModel | None = None
        self.load_error: str | None = None
        self._slots = asyncio.Semaphore(config.max_concurrency)
        self._pool = ThreadPoolExecutor(max_workers=config.max_concurrency, thread_name_prefix="invocation")
        self._lock = threading.Lock()
        self.receiving = 0
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
    def receiving_body(self) -> Iterator[None]:
        with self._lock:
            self.receiving += 1
        try:
            yield
        finally:
            with self._lock:
                self.receiving -= 1

    async def infer(self, work: Callable[[], bytes], work_dir: Path) -> bytes:
        """Run ``work`` in the pool once a slot is free; ``work_dir`` is removed when it ends."""
        with self._lock:
            self.waiting += 1
        try:
            await self._slots.acquire()
        except BaseException:
            scratch.remove(work_dir)
            raise
        finally:
            with self._lock:
                self.waiting -= 1
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._run_in_slot, loop, work, work_dir)

    def _run_in_slot(
        self, loop: asyncio.AbstractEventLoop, work: Callable[[], bytes], work_dir: Path
    ) -> bytes:
        # The slot is given back here, not by the awaiting request: a request cancelled at
        # shutdown must not free a slot whose thread still runs.
        try:
            return work()
        finally:
            scratch.remove(work_dir)
            with self._lock:
                self.in_flight -= 1
            with suppress(RuntimeError):  # the loop is already closed at exit
                loop.call_soon_threadsafe(self._slots.release)

    def busy(self) -> int:
        with self._lock:
            return self.in_flight

    def shutdown_pool(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

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
                "receiving": self.receiving,
                "in_flight": self.in_flight,
                "waiting": self.waiting,
                "max_in_flight": self.max_in_flight,
                "completed": self.completed,
                "failed": self.failed,
            }


# --- the Starlette app ---------------------------------------------------------------------------------


def create_app(state: WorkerState) -> Starlette:
    app = Starlette(
        routes=[
            Route("/ping", _ping, methods=["GET"]),
            Route("/metrics", _metrics, methods=["GET"]),
            Route("/invocations", _invoke, methods=["POST"]),
        ],
        exception_handlers={HTTPException: _http_error},
    )
    app.state.worker = state
    return app


def _state(request: Request) -> WorkerState:
    state: WorkerState = request.app.state.worker
    return state


async def _ping(request: Request) -> Response:
    model = _state(request).model
    if model is None:
        return _json(503, {"status": "loading"})
    return _json(200, {"status": "ok", "model": model.options.model})


async def _metrics(request: Request) -> Response:
    return _json(200, _state(request).metrics())


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    reason: BaseException = LookupError(f"no such path: {request.url.path}")
    if status == 405:
        reason = LookupError(f"{request.method} is not allowed on {request.url.path}")
    return _json(status, handler.error_body(reason), close=True)


async def _invoke(request: Request) -> Response:
    state = _state(request)
    started = time.monotonic()
    job_id = ""
    body_read = False
    try:
        model = state.model
        if model is None:
            raise handler.RequestError("the model is still loading; retry after GET /ping answers 200", 503)
        options = handler.request_options(
            model, request.headers.get(CUSTOM_ATTRIBUTES), request.headers.get(INFERENCE_ID)
        )
        job_id = options.job_id
        work_dir, video = await _receive_video(state, request)
        body_read = True
        body = await state.infer(partial(_predict, state, model, options, video, work_dir), work_dir)
    except Exception as exc:  # every failure becomes a JSON error answer
        state.count(ok=False)
        return _error_answer(state, exc, job_id, close=not body_read)
    state.count(ok=True)
    log.info("invocation %s done in %.1fs (%d bytes)", job_id, time.monotonic() - started, len(body))
    return Response(body, 200, media_type="application/json", headers={JOB_ID_HEADER: job_id})


async def _receive_video(state: WorkerState, request: Request) -> tuple[Path, Path]:
    """-> (the invocation's directory, the body's file in it); the directory is gone on failure."""
    content_type = request.headers.get("Content-Type")
    handler.check_content_type(content_type)
    length, chunked = _body_framing(request)
    work_dir = state.scratch.invocation_dir()
    try:
        with state.receiving_body():
            video = await handler.input_fn(
                _body_chunks(request.receive, state.config),
                content_length=length,
                chunked=chunked,
                content_type=content_type,
                work_dir=work_dir,
                max_bytes=state.config.max_body_bytes,
            )
    except BaseException:
        scratch.remove(work_dir)
        raise
    return work_dir, video


def _predict(
    state: WorkerState,
    model: handler.LoadedModel,
    request: handler.RequestOptions,
    video: Path,
    work_dir: Path,
) -> bytes:
    """The blocking part of an invocation, in a pool thread: predict_fn, then output_fn."""
    out_dir = work_dir / "out"
    live = state.live_job(request.job_id, _video_name(request.video_uri, request.job_id), out_dir)
    live.start()
    ok = False
    try:
        summary = handler.predict_fn(video, model, request, out_dir, snapshot=live)
        body = handler.output_fn(
            summary,
            out_dir,
            job_id=request.job_id,
            store=state.store,
            max_response_bytes=state.config.max_response_bytes,
        )
        ok = True
    finally:
        live.finish(ok)
    return body


async def _body_chunks(receive: Receive, config: ServeConfig) -> AsyncIterator[bytes]:
    """The body's pieces; RequestTimeout when the client stalls or the whole body takes too long."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + config.body_timeout
    while True:
        left = deadline - loop.time()
        try:
            message = await asyncio.wait_for(receive(), timeout=max(0.0, min(config.read_timeout, left)))
        except TimeoutError:
            if left <= config.read_timeout:
                raise handler.RequestTimeout(
                    f"the body did not arrive within {config.body_timeout:g} s"
                ) from None
            raise handler.RequestTimeout(
                f"no byte of the body arrived for {config.read_timeout:g} s; send the body without pausing"
            ) from None
        if message["type"] == "http.disconnect":
            raise ClientGone("the client closed the connection before the body was complete")
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


def _body_framing(request: Request) -> tuple[int | None, bool]:
    """(Content-Length, chunked); h11 has already refused a malformed Content-Length."""
    if "chunked" in (request.headers.get("Transfer-Encoding") or "").lower():
        return None, True
    raw = request.headers.get("Content-Length")
    return (int(raw) if raw is not None else None), False


def _error_answer(state: WorkerState, exc: Exception, job_id: str, *, close: bool) -> Response:
    status = handler.http_status_of(exc)
    message = public_message(str(exc), state.config.temp_root)
    if isinstance(exc, ClientGone):
        log.info("invocation %s: %s", job_id or "-", exc)
    elif status >= 500:
        log.error("invocation %s failed:\n%s", job_id or "-", traceback.format_exc())
    else:
        log.info("invocation %s rejected (%d): %s", job_id or "-", status, exc)
    return _json(status, handler.error_body(exc, message), job_id, close=close)


def public_message(message: str, temp_root: Path) -> str:
    """``message`` without the worker's temporary paths, nor the body file's name (the log keeps them)."""
    roots = {str(temp_root), os.path.realpath(temp_root)}
    for root in sorted(roots, key=len, reverse=True):
        pattern = re.escape(root.rstrip("/")) + r"/[^\s'\",:;)]*"
        message = re.sub(pattern, _name_for, message)
    return _BODY_FILE.sub(BODY_NAME, message)


def _name_for(match: re.Match[str]) -> str:
    return BODY_NAME if Path(match.group(0)).name.startswith("input.") else TEMP_NAME


def _json(status: int, payload: dict[str, Any], job_id: str = "", *, close: bool = False) -> Response:
    headers = {JOB_ID_HEADER: job_id} if job_id else {}
    if close:  # the rest of an unread body is not worth reading; h11 closes after the answer
        headers["Connection"] = "close"
    return Response(json.dumps(payload).encode("utf-8"), status, headers, media_type="application/json")


# --- the HTTP protocol ----------------------------------------------------------------------------------


def protocol_class(head_timeout: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a deadline for each request head (408 as JSON, then closed)."""
    message = f"the request head did not arrive within {head_timeout:g} s"
    body = json.dumps(handler.error_body(handler.RequestTimeout(message))).encode()
    return head_deadline_protocol(head_timeout, timeout_answer(body))


class _QuietPings(logging.Filter):
    """SageMaker pings every few seconds; those access lines only matter when debugging."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return len(args) < 3 or args[2] != "/ping" or log.isEnabledFor(logging.DEBUG)


# --- serve ---------------------------------------------------------------------------------------------


def serve(
    config: ServeConfig, defaults: RunOptions, *, weights_from_env: bool, store: ArtifactStore | None = None
) -> int:
    """Listen at once (``/ping`` answers 503 while loading), load the model, serve until SIGTERM."""
    scratch_dir = _own_scratch(config.temp_root)
    # Every temporary file of this process (unpacked model archives too) goes under its own
    # directory, which goes with the process, or at the next start after a SIGKILL.
    tempfile.tempdir = str(scratch_dir.path)
    state = WorkerState(
        config,
        defaults,
        weights_from_env=weights_from_env,
        store=store,
        scratch_dir=scratch_dir,
        jobs=_jobs(config),
    )
    server = uvicorn.Server(uvicorn_config(create_app(state), config))
    _keep_signals_for_uvicorn()
    threading.Thread(target=_load, args=(state, server), name="model-load", daemon=True).start()
    try:
        server.run()
    finally:
        code = _finish(state)
    if state.busy():
        # Inference threads cannot be interrupted; the process must not wait for them to end.
        log.warning("exiting with %d invocations still running after the shutdown grace", state.busy())
        logging.shutdown()
        os._exit(code)
    return code


def _own_scratch(root: Path) -> scratch.Scratch:
    try:
        scratch.clean_stale(root)
        return scratch.Scratch(root)
    except OSError as exc:
        raise ParamError(
            f"cannot create the worker's temporary directory under {root} ({exc.strerror}); "
            f"set {envvars.TEMP_DIR} or TMPDIR to a writable directory"
        ) from None


def uvicorn_config(app: Starlette, config: ServeConfig) -> uvicorn.Config:
    logging.getLogger("uvicorn.access").addFilter(_QuietPings())
    return uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        http=protocol_class(config.read_timeout),
        lifespan="off",
        log_config=None,
        limit_concurrency=config.max_connections,
        timeout_graceful_shutdown=math.ceil(config.shutdown_grace),
        server_header=False,
    )


def _load(state: WorkerState, server: uvicorn.Server) -> None:
    try:
        state.load()
    except Exception as exc:
        state.load_error = f"{type(exc).__name__}: {exc}"
        log.error("model load failed: %s", state.load_error)
        if not isinstance(exc, ReelsightError):
            log.error("%s", traceback.format_exc())
        server.should_exit = True


def _keep_signals_for_uvicorn() -> None:
    """uvicorn re-raises SIGTERM/SIGINT once it has shut down; handled here, they end with exit 0."""
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: None)


def _finish(state: WorkerState) -> int:
    state.shutdown_pool()
    state.scratch.close()
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
