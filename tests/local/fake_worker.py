"""A stand-in model container for endpoint tests: /ping and /invocations over real HTTP."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeWorker:
    """Answers /invocations with a JSON echo of what it received; behaviour is switchable per test."""

    def __init__(self, port: int = 0, *, status: int = 200, delay: float = 0.0, drop: bool = False) -> None:
        self.status = status
        self.delay = delay
        self.drop = drop
        self.calls: list[dict[str, Any]] = []
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()
        worker = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                self.send_response(200 if self.path == "/ping" else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with worker._lock:
                    worker.active += 1
                    worker.max_active = max(worker.max_active, worker.active)
                    worker.calls.append(
                        {"headers": dict(self.headers.items()), "size": len(body), "body": body}
                    )
                try:
                    time.sleep(worker.delay)
                    if worker.drop:
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    payload = json.dumps(
                        {
                            "received_bytes": len(body),
                            "inference_id": self.headers.get("X-Amzn-SageMaker-Inference-Id"),
                            "custom_attributes": self.headers.get("X-Amzn-SageMaker-Custom-Attributes"),
                        }
                    ).encode()
                    self.send_response(worker.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                finally:
                    with worker._lock:
                        worker.active -= 1

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FakeWorker:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
