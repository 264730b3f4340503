"""A local SageMaker asynchronous inference endpoint.

It speaks the ``InvokeEndpointAsync`` REST shape, so boto3's real ``sagemaker-runtime``
client reaches it through ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``. Like the managed
service it queues requests, runs at most ``max_concurrency`` of them at a time, downloads
each input from S3, POSTs it to the model container's ``/invocations``, writes the answer
to ``S3OutputPath/<uuid>.out`` (or ``S3FailurePath/<uuid>-error.out``) and publishes the
SageMaker notification to the success or error topic. Requests older than their TTL
expire; a worker that is not answering (restarting) is waited for, but a request the
worker accepted is never sent twice.

The queue is durable (``endpoint_queue.RequestQueue``, one SQLite file under the local
stack's state directory): a request is stored before its 202 answer, and each step after
that is committed, so an endpoint that crashes and restarts finishes every request, fails
it with a reason, or expires it by its TTL, counted from when it was accepted.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from reelsight.contract.names import split_s3_uri, uri_attribute
from reelsight.local.endpoint_queue import COMPLETED, FAILED, Outcome, QueuedRequest, RequestQueue
from reelsight.local.service import configure_logging, service_parser, stop_event

log = logging.getLogger("reelsight.local.endpoint")

MAX_INFERENCE_ID = 64
MAX_INLINE_BODY = 128_000
MAX_NOTIFICATION_BODY = 128 * 1024
TTL_RANGE = (60, 21600)
TIMEOUT_RANGE = (1, 3600)
RESTART_REASON = (
    "InternalFailure: the endpoint restarted while the model container was running this request;"
    " it is not sent again, so that no request runs twice."
)


@dataclass
class EndpointConfig:
    name: str
    output_path: str
    failure_path: str
    worker_url: str
    success_topic: str | None = None
    error_topic: str | None = None
    max_concurrency: int = 1
    include_response_in: list[str] = field(default_factory=list)
    default_ttl: int = 21600
    default_timeout: int = 900
    ping_interval: float = 0.5
    queue_path: str | None = None  # the durable queue's SQLite file; None keeps it in memory

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EndpointConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass
class AsyncRequest:
    inference_id: str
    input_location: str | None
    body: bytes | None
    content_type: str
    accept: str | None
    custom_attributes: str | None
    ttl: int
    timeout: int
    output_location: str
    failure_location: str
    enqueued_at: float = field(default_factory=time.time)  # wall clock: the TTL spans restarts
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def record(self) -> dict[str, Any]:
        """Every field but the body, as the durable queue stores it."""
        return {k: v for k, v in asdict(self).items() if k != "body"}

    @classmethod
    def from_queued(cls, item: QueuedRequest) -> AsyncRequest:
        fields = {k: v for k, v in item.record.items() if k in cls.__dataclass_fields__}
        return cls(**{**fields, "body": item.body, "request_id": item.request_id})


class RequestError(Exception):
    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type


class WorkerLost(Exception):
    """The worker accepted the request and then went away."""


VIDEO_URI_ATTRIBUTE = "video_uri"
MAX_CUSTOM_ATTRIBUTES = 1024


def worker_custom_attributes(attributes: str | None, input_location: str | None) -> str | None:
    """The custom attributes the worker gets: the caller's, plus ``video_uri=<InputLocation>`` when a
    direct invocation names none, so its summary names the real input, as the dispatcher's do."""
    names = {part.split("=", 1)[0].strip() for part in (attributes or "").split(",")}
    if not input_location or VIDEO_URI_ATTRIBUTE in names:
        return attributes
    named = f"{VIDEO_URI_ATTRIBUTE}={uri_attribute(input_location)}"
    joined = f"{attributes},{named}" if attributes else named
    return joined if len(joined) <= MAX_CUSTOM_ATTRIBUTES else attributes  # SageMaker's limit


SYNC_ROUTES = ("invocations", "invocations-response-stream")


def sync_invocation_error(parts: list[str], endpoint_name: str) -> RequestError | None:
    """The error for a synchronous ``InvokeEndpoint`` (``POST /endpoints/<name>/invocations``, or
    its response-stream form) on this async-only endpoint: a ``ValidationError`` (400), the code
    SageMaker's runtime API uses for requests the endpoint cannot serve; None for other paths."""
    if len(parts) != 3 or parts[0] != "endpoints" or parts[2] not in SYNC_ROUTES:
        return None
    if parts[1] != endpoint_name:
        return RequestError(400, "ValidationError", f"Endpoint {parts[1]} of account 123456789012 not found.")
    return RequestError(
        400,
        "ValidationError",
        f"Endpoint {parts[1]} of account 123456789012 is an asynchronous inference endpoint; "
        "it does not support InvokeEndpoint. Use InvokeEndpointAsync.",
    )


def _join_s3(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts if p)])


def _int_header(value: str | None, default: int, bounds: tuple[int, int], name: str) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise RequestError(400, "ValidationError", f"{name} must be an integer, got {value!r}") from None
    if not bounds[0] <= number <= bounds[1]:
        raise RequestError(400, "ValidationError", f"{name} must be between {bounds[0]} and {bounds[1]}")
    return number


def async_notification(endpoint_name: str, request: AsyncRequest, status: str) -> dict[str, Any]:
    """What SageMaker publishes when an async invocation ends (``Completed`` or ``Failed``)."""
    return {
        "awsRegion": "us-east-1",
        "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "receivedTime": datetime.now(UTC).isoformat(),
        "invocationStatus": status,
        "inferenceId": request.inference_id,
        "eventSource": "aws:sagemaker",
        "eventName": "InferenceResult",
        "eventVersion": "1.0",
        "requestParameters": {
            "endpointName": endpoint_name,
            "inputLocation": request.input_location,
            "contentType": request.content_type,
            "customAttributes": request.custom_attributes,
        },
    }


def success_notification(
    endpoint_name: str, request: AsyncRequest, content_type: str, body: bytes | None = None
) -> dict[str, Any]:
    """The success topic's message for a response written to ``request.output_location``; with
    ``body``, the response inline as well (``IncludeInferenceResponseIn``)."""
    message = async_notification(endpoint_name, request, "Completed")
    message["responseParameters"] = {"contentType": content_type, "outputLocation": request.output_location}
    if body is not None:
        message["responseBody"] = {"content": base64.b64encode(body).decode(), "encoding": "BASE64"}
    return message


def failure_notification(endpoint_name: str, request: AsyncRequest, reason: str) -> dict[str, Any]:
    """The error topic's message for a failure written to ``request.failure_location``."""
    message = async_notification(endpoint_name, request, "Failed")
    message["failureReason"] = reason
    message["responseParameters"] = {"contentType": "text/plain", "failureLocation": request.failure_location}
    return message


class LocalAsyncEndpoint:
    """The endpoint: an HTTP front (``start``/``stop``) and a pool of invocation threads."""

    def __init__(self, config: EndpointConfig, *, host: str = "127.0.0.1", port: int = 0) -> None:
        import boto3

        self.config = config
        self._host = host
        self._s3 = boto3.client("s3")
        self._sns = boto3.client("sns")
        self._queue = RequestQueue(config.queue_path or ":memory:")
        self._wake = threading.Condition()
        self._lock = threading.Lock()
        # Counts of this process only; the durable ones come from the queue.
        self._stats: dict[str, Any] = {
            "in_flight": 0,
            "worker_waits": 0,
            "recovered": {"requeued": 0, "interrupted": 0, "delivered": 0},
        }
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._server.server_address[1]}"

    def stats(self) -> dict[str, Any]:
        with self._lock:
            data = json.loads(json.dumps(self._stats))
        data.update(self._queue.counts())
        return data

    def _count(self, key: str, delta: int = 1) -> None:
        with self._lock:
            self._stats[key] += delta

    def start(self) -> LocalAsyncEndpoint:
        front = threading.Thread(target=self._server.serve_forever, name="endpoint-http", daemon=True)
        front.start()
        self._threads.append(front)
        self._recover()
        for i in range(max(self.config.max_concurrency, 1)):
            worker = threading.Thread(target=self._invoke_loop, name=f"endpoint-invoke-{i}", daemon=True)
            worker.start()
            self._threads.append(worker)
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LocalAsyncEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- front: the InvokeEndpointAsync REST shape ---

    def accept(self, endpoint_name: str, headers: dict[str, str], body: bytes) -> AsyncRequest:
        if endpoint_name != self.config.name:
            raise RequestError(
                400, "ValidationError", f"Endpoint {endpoint_name} of account 123456789012 not found."
            )
        input_location = headers.get("x-amzn-sagemaker-inputlocation")
        if bool(input_location) == bool(body):
            raise RequestError(400, "ValidationError", "Provide exactly one of InputLocation and Body.")
        if body and len(body) > MAX_INLINE_BODY:
            raise RequestError(400, "ValidationError", f"Body must be at most {MAX_INLINE_BODY} bytes.")
        if input_location:
            try:
                split_s3_uri(input_location)
            except ValueError as exc:
                raise RequestError(400, "ValidationError", str(exc)) from None
        inference_id = headers.get("x-amzn-sagemaker-inference-id") or str(uuid.uuid4())
        if len(inference_id) > MAX_INFERENCE_ID:
            raise RequestError(
                400, "ValidationError", f"InferenceId must be at most {MAX_INFERENCE_ID} characters."
            )
        ttl = _int_header(
            headers.get("x-amzn-sagemaker-requestttlseconds"),
            self.config.default_ttl,
            TTL_RANGE,
            "RequestTTLSeconds",
        )
        timeout = _int_header(
            headers.get("x-amzn-sagemaker-invocationtimeoutseconds"),
            self.config.default_timeout,
            TIMEOUT_RANGE,
            "InvocationTimeoutSeconds",
        )
        extension = headers.get("x-amzn-sagemaker-s3outputpathextension", "")
        file_id = str(uuid.uuid4())
        filename = headers.get("x-amzn-sagemaker-filename") or f"{file_id}.out"
        request = AsyncRequest(
            inference_id=inference_id,
            input_location=input_location,
            body=body or None,
            content_type=headers.get("x-amzn-sagemaker-content-type") or "application/octet-stream",
            accept=headers.get("x-amzn-sagemaker-accept"),
            custom_attributes=headers.get("x-amzn-sagemaker-custom-attributes"),
            ttl=ttl,
            timeout=timeout,
            output_location=_join_s3(self.config.output_path, extension, filename),
            failure_location=_join_s3(self.config.failure_path, extension, f"{file_id}-error.out"),
        )
        self.enqueue(request)
        log.info("queued %s input=%s", inference_id, input_location or "<inline>")
        return request

    def enqueue(self, request: AsyncRequest) -> None:
        """Store the request durably (before it is acknowledged) and wake an invocation thread."""
        self._queue.put(request.request_id, request.record(), request.body, request.enqueued_at)
        with self._wake:
            self._wake.notify()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                log.debug("%s " + format, self.address_string(), *args)

            def _reply(
                self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                if self.path == "/ping":
                    self._reply(200, {"status": "ok", "endpoint": endpoint.config.name})
                elif self.path == "/local/stats":
                    self._reply(200, endpoint.stats())
                else:
                    self._reply(
                        404, {"message": f"unknown path {self.path}"}, {"x-amzn-ErrorType": "NotFound"}
                    )

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = self.path.split("?")[0].strip("/").split("/")
                refused = sync_invocation_error(parts, endpoint.config.name)
                if refused is not None:
                    self._reply(
                        refused.status, {"message": str(refused)}, {"x-amzn-ErrorType": refused.error_type}
                    )
                    return
                if len(parts) != 3 or parts[0] != "endpoints" or parts[2] != "async-invocations":
                    self._reply(
                        404,
                        {"message": f"unknown path {self.path}"},
                        {"x-amzn-ErrorType": "UnknownOperation"},
                    )
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    req = endpoint.accept(parts[1], headers, body)
                except RequestError as exc:
                    self._reply(exc.status, {"message": str(exc)}, {"x-amzn-ErrorType": exc.error_type})
                    return
                self._reply(
                    202,
                    {
                        "InferenceId": req.inference_id,
                        "OutputLocation": req.output_location,
                        "FailureLocation": req.failure_location,
                    },
                    {
                        "X-Amzn-SageMaker-OutputLocation": req.output_location,
                        "X-Amzn-SageMaker-FailureLocation": req.failure_location,
                    },
                )

        return Handler

    # --- back: invoking the worker ---

    def _recover(self) -> None:
        """Settle what an earlier process of this endpoint left in the queue (see endpoint_queue)."""
        found = self._queue.recover(RESTART_REASON)
        for item in [*found.interrupted, *found.undelivered]:
            assert item.outcome is not None
            self._deliver(AsyncRequest.from_queued(item), item.outcome)
        with self._lock:
            recovered = self._stats["recovered"]
            recovered["requeued"] += len(found.requeued)
            recovered["interrupted"] += len(found.interrupted)
            recovered["delivered"] += len(found.undelivered)
        if found.requeued or found.interrupted or found.undelivered:
            log.warning(
                "recovered the queue: %d requeued, %d failed as interrupted, %d outcomes delivered",
                len(found.requeued),
                len(found.interrupted),
                len(found.undelivered),
            )

    def _next(self) -> AsyncRequest | None:
        """The oldest queued request (claimed), waiting for one; None when stopping."""
        while not self._stopping.is_set():
            item = self._queue.claim()
            if item is not None:
                return AsyncRequest.from_queued(item)
            with self._wake:
                self._wake.wait(timeout=1.0)
        return None

    def _invoke_loop(self) -> None:
        while (request := self._next()) is not None:
            with self._lock:
                self._stats["in_flight"] += 1
            try:
                self._process(request)
            except Exception as exc:  # never let one request stop the pool
                log.exception("request %s failed unexpectedly", request.inference_id)
                self._fail(request, f"InternalFailure: {exc}", None)
            finally:
                with self._lock:
                    self._stats["in_flight"] -= 1

    def _expired(self, request: AsyncRequest) -> bool:
        return time.time() - request.enqueued_at > request.ttl

    def _payload(self, request: AsyncRequest) -> bytes | None:
        """The request's input: inline, or downloaded (None, and the request failed, when that fails)."""
        if request.body is not None:
            return request.body
        assert request.input_location is not None
        try:
            bucket, key = split_s3_uri(request.input_location)
            return bytes(self._s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except Exception as exc:
            self._fail(request, f"ClientError: could not download {request.input_location}: {exc}", None)
            return None

    def _process(self, request: AsyncRequest) -> None:
        if self._expired(request):
            self._fail(
                request,
                f"Request expired: it was not processed within its TTL of {request.ttl} s.",
                None,
                expired=True,
            )
            return
        payload = self._payload(request)
        if payload is None:
            return
        answer = self._invoke(request, payload)
        if answer is None:
            return
        status, content_type, body = answer
        if status == 200:
            self._finish(request, Outcome(status=COMPLETED, content_type=content_type, body=body))
        else:
            kind = "client" if 400 <= status < 500 else "server"
            message = body[:2048].decode("utf-8", "replace")
            reason = f'ClientError: Received {kind} error ({status}) from model with message "{message}".'
            self._fail(request, reason, body)

    def _invoke(self, request: AsyncRequest, payload: bytes) -> tuple[int, str, bytes] | None:
        """The worker's answer; None when the request ended otherwise (failed, or left queued when
        the endpoint stops while it waits for the worker)."""
        while True:
            if not self._wait_for_worker(request):
                if not self._stopping.is_set():
                    self._fail(
                        request,
                        "Request expired: the model container was not ready within the TTL of"
                        f" {request.ttl} s.",
                        None,
                        expired=True,
                    )
                return None  # when stopping, it stays claimed: the next start queues it again
            try:
                return self._post(request, payload)
            except ConnectionRefusedError:
                continue  # the worker went down between the ping and the connect: wait again
            except WorkerLost as exc:
                self._fail(
                    request, f"ModelError: the model container stopped during the invocation ({exc}).", None
                )
            except TimeoutError:
                self._fail(
                    request, f"InvocationTimeout: no answer from the model within {request.timeout} s.", None
                )
            return None

    def _worker_ready(self) -> bool:
        parsed = urlparse(self.config.worker_url)
        conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port or 80, timeout=5)
        try:
            conn.request("GET", "/ping")
            return conn.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def _wait_for_worker(self, request: AsyncRequest) -> bool:
        waited = False
        while not self._stopping.is_set():
            if self._worker_ready():
                return True
            if not waited:
                waited = True
                self._count("worker_waits")
                log.info("worker not ready; %s waits", request.inference_id)
            if self._expired(request):
                return False
            time.sleep(self.config.ping_interval)
        return False

    def _post(self, request: AsyncRequest, payload: bytes) -> tuple[int, str, bytes]:
        parsed = urlparse(self.config.worker_url)
        conn = http.client.HTTPConnection(
            parsed.hostname or "127.0.0.1", parsed.port or 80, timeout=float(request.timeout)
        )
        try:
            conn.connect()  # ConnectionRefusedError here means nothing was sent: safe to retry
            headers = {
                "Content-Type": request.content_type,
                "X-Amzn-SageMaker-Inference-Id": request.inference_id,
            }
            if request.accept:
                headers["Accept"] = request.accept
            attributes = worker_custom_attributes(request.custom_attributes, request.input_location)
            if attributes:
                headers["X-Amzn-SageMaker-Custom-Attributes"] = attributes
            self._queue.invoking(request.request_id)  # committed first: a crash from here fails it
            log.info("invoking worker for %s", request.inference_id)
            try:
                conn.request("POST", "/invocations", body=payload, headers=headers)
                response = conn.getresponse()
                body = response.read()
            except TimeoutError:
                raise
            except (OSError, http.client.HTTPException) as exc:
                raise WorkerLost(type(exc).__name__) from exc
            return response.status, response.getheader("Content-Type") or "application/json", body
        finally:
            conn.close()

    # --- outcomes: stored first, then written to S3 and published ---

    def _publish(self, topic: str | None, message: dict[str, Any]) -> None:
        if not topic:
            return
        try:
            self._sns.publish(TopicArn=topic, Message=json.dumps(message))
        except Exception:
            log.exception("could not publish the notification for %s", message.get("inferenceId"))

    def _fail(self, request: AsyncRequest, reason: str, body: bytes | None, *, expired: bool = False) -> None:
        self._finish(
            request,
            Outcome(status=FAILED, content_type="text/plain", body=body, reason=reason, expired=expired),
        )

    def _finish(self, request: AsyncRequest, outcome: Outcome) -> None:
        self._queue.answered(request.request_id, outcome)
        self._deliver(request, outcome)

    def _deliver(self, request: AsyncRequest, outcome: Outcome) -> None:
        if outcome.status == COMPLETED:
            delivered = self._deliver_success(request, outcome.content_type, outcome.body or b"")
        else:
            delivered = True
            self._deliver_failure(request, outcome.reason or "InternalFailure", outcome.body)
        if delivered:
            self._queue.done(request.request_id)

    def _deliver_success(self, request: AsyncRequest, content_type: str, body: bytes) -> bool:
        """Write the answer and publish; False when the write failed and the request failed instead."""
        bucket, key = split_s3_uri(request.output_location)
        try:
            self._s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
        except Exception as exc:
            self._fail(
                request, f"ResponseUploadFailure: could not write {request.output_location}: {exc}", None
            )
            return False
        include_body = (
            "SUCCESS_NOTIFICATION_TOPIC" in self.config.include_response_in
            and len(body) <= MAX_NOTIFICATION_BODY
        )
        message = success_notification(
            self.config.name, request, content_type, body if include_body else None
        )
        log.info("completed %s -> %s", request.inference_id, request.output_location)
        self._publish(self.config.success_topic, message)
        return True

    def _deliver_failure(self, request: AsyncRequest, reason: str, body: bytes | None) -> None:
        bucket, key = split_s3_uri(request.failure_location)
        try:
            self._s3.put_object(Bucket=bucket, Key=key, Body=body if body is not None else reason.encode())
        except Exception:
            log.exception("could not write the failure output for %s", request.inference_id)
        message = failure_notification(self.config.name, request, reason)
        log.info("failed %s: %s", request.inference_id, reason)
        self._publish(self.config.error_topic, message)


def main(argv: list[str] | None = None) -> int:
    parser = service_parser(
        "Local SageMaker async endpoint.", config_help="JSON file with the EndpointConfig fields"
    )
    args = parser.parse_args(argv)
    configure_logging()
    config = EndpointConfig.from_json(json.loads(Path(args.config).read_text()))
    endpoint = LocalAsyncEndpoint(config, host=args.host, port=args.port).start()
    log.info("endpoint %s listening on %s, worker %s", config.name, endpoint.url, config.worker_url)
    stop_event().wait()
    endpoint.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["AsyncRequest", "EndpointConfig", "LocalAsyncEndpoint", "asdict"]
