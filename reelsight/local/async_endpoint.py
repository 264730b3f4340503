"""A local SageMaker asynchronous inference endpoint.

It speaks the ``InvokeEndpointAsync`` REST shape, so boto3's real ``sagemaker-runtime``
client reaches it through ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``. Like the managed
service it queues requests, runs at most ``max_concurrency`` of them at a time, downloads
each input from S3, POSTs it to the model container's ``/invocations``, writes the answer
to ``S3OutputPath/<uuid>.out`` (or ``S3FailurePath/<uuid>-error.out``) and publishes the
SageMaker notification to the success or error topic. Requests older than their TTL
expire; a worker that is not answering (restarting) is waited for, but a request the
worker accepted is never sent twice.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import logging
import queue
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from reelsight.contract.names import split_s3_uri

log = logging.getLogger("reelsight.local.endpoint")

MAX_INFERENCE_ID = 64
MAX_INLINE_BODY = 128_000
MAX_NOTIFICATION_BODY = 128 * 1024
TTL_RANGE = (60, 21600)
TIMEOUT_RANGE = (1, 3600)


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
    enqueued_at: float = field(default_factory=time.monotonic)


class RequestError(Exception):
    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type


class WorkerLost(Exception):
    """The worker accepted the request and then went away."""


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
        self._queue: queue.Queue[AsyncRequest | None] = queue.Queue()
        self._lock = threading.Lock()
        self._stats: dict[str, Any] = {
            "received": 0,
            "invocations": 0,
            "completed": 0,
            "failed": 0,
            "expired": 0,
            "in_flight": 0,
            "worker_waits": 0,
            "invocations_by_input": {},
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
        data["backlog"] = self._queue.qsize()
        return data

    def _count(self, key: str, delta: int = 1) -> None:
        with self._lock:
            self._stats[key] += delta

    def start(self) -> LocalAsyncEndpoint:
        front = threading.Thread(target=self._server.serve_forever, name="endpoint-http", daemon=True)
        front.start()
        self._threads.append(front)
        for i in range(max(self.config.max_concurrency, 1)):
            worker = threading.Thread(target=self._invoke_loop, name=f"endpoint-invoke-{i}", daemon=True)
            worker.start()
            self._threads.append(worker)
        return self

    def stop(self) -> None:
        self._stopping.set()
        for _ in range(max(self.config.max_concurrency, 1)):
            self._queue.put(None)
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
        self._count("received")
        self._queue.put(request)
        log.info("queued %s input=%s", inference_id, input_location or "<inline>")
        return request

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

    def _invoke_loop(self) -> None:
        while not self._stopping.is_set():
            request = self._queue.get()
            if request is None:
                return
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
        return time.monotonic() - request.enqueued_at > request.ttl

    def _process(self, request: AsyncRequest) -> None:
        if self._expired(request):
            self._count("expired")
            self._fail(
                request, f"Request expired: it was not processed within its TTL of {request.ttl} s.", None
            )
            return
        if request.body is not None:
            payload = request.body
        else:
            assert request.input_location is not None
            try:
                bucket, key = split_s3_uri(request.input_location)
                payload = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            except Exception as exc:
                self._fail(request, f"ClientError: could not download {request.input_location}: {exc}", None)
                return
        while True:
            if not self._wait_for_worker(request):
                self._count("expired")
                self._fail(
                    request,
                    f"Request expired: the model container was not ready within the TTL of {request.ttl} s.",
                    None,
                )
                return
            try:
                status, content_type, body = self._post(request, payload)
            except ConnectionRefusedError:
                continue  # the worker went down between the ping and the connect: wait again
            except WorkerLost as exc:
                self._fail(
                    request, f"ModelError: the model container stopped during the invocation ({exc}).", None
                )
                return
            except TimeoutError:
                self._fail(
                    request, f"InvocationTimeout: no answer from the model within {request.timeout} s.", None
                )
                return
            break
        if status == 200:
            self._succeed(request, content_type, body)
        else:
            kind = "client" if 400 <= status < 500 else "server"
            message = body[:2048].decode("utf-8", "replace")
            reason = f'ClientError: Received {kind} error ({status}) from model with message "{message}".'
            self._fail(request, reason, body)

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
            if request.custom_attributes:
                headers["X-Amzn-SageMaker-Custom-Attributes"] = request.custom_attributes
            with self._lock:
                self._stats["invocations"] += 1
                by_input = self._stats["invocations_by_input"]
                key = request.input_location or request.inference_id
                by_input[key] = by_input.get(key, 0) + 1
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

    # --- outcomes ---

    def _publish(self, topic: str | None, message: dict[str, Any]) -> None:
        if not topic:
            return
        try:
            self._sns.publish(TopicArn=topic, Message=json.dumps(message))
        except Exception:
            log.exception("could not publish the notification for %s", message.get("inferenceId"))

    def _succeed(self, request: AsyncRequest, content_type: str, body: bytes) -> None:
        bucket, key = split_s3_uri(request.output_location)
        try:
            self._s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
        except Exception as exc:
            self._fail(
                request, f"ResponseUploadFailure: could not write {request.output_location}: {exc}", None
            )
            return
        self._count("completed")
        include_body = (
            "SUCCESS_NOTIFICATION_TOPIC" in self.config.include_response_in
            and len(body) <= MAX_NOTIFICATION_BODY
        )
        message = success_notification(
            self.config.name, request, content_type, body if include_body else None
        )
        log.info("completed %s -> %s", request.inference_id, request.output_location)
        self._publish(self.config.success_topic, message)

    def _fail(self, request: AsyncRequest, reason: str, body: bytes | None) -> None:
        self._count("failed")
        bucket, key = split_s3_uri(request.failure_location)
        try:
            self._s3.put_object(Bucket=bucket, Key=key, Body=body if body is not None else reason.encode())
        except Exception:
            log.exception("could not write the failure output for %s", request.inference_id)
        message = failure_notification(self.config.name, request, reason)
        log.info("failed %s: %s", request.inference_id, reason)
        self._publish(self.config.error_topic, message)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Local SageMaker async endpoint.")
    parser.add_argument("--config", required=True, help="JSON file with the EndpointConfig fields")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    config = EndpointConfig.from_json(json.loads(Path(args.config).read_text()))
    endpoint = LocalAsyncEndpoint(config, host=args.host, port=args.port).start()
    log.info("endpoint %s listening on %s, worker %s", config.name, endpoint.url, config.worker_url)
    stop = threading.Event()
    import signal

    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    endpoint.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["AsyncRequest", "EndpointConfig", "LocalAsyncEndpoint", "asdict"]
