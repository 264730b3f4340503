"""A local SageMaker control plane for the resources that the synthesized templates declare.

It answers SageMaker's JSON protocol (``POST /`` with ``X-Amz-Target: SageMaker.<Operation>``), so
boto3, the AWS CLI and the SageMaker Python SDK reach it through ``AWS_ENDPOINT_URL_SAGEMAKER``
and their waiters work. Operations are plain handlers in a table: the endpoint's
(``DescribeEndpoint``, which is ``InService`` once the worker answers ``/ping``,
``DescribeEndpointConfig``, ``DescribeModel``, their ``List*`` forms, and the endpoint's lineage
context that SageMaker creates with every endpoint) are built here; another group (Processing, say)
is one more table passed to ``ControlPlane``: the local Processing service's
(``reelsight.local.processing_service``) when the config has one. An operation that no table knows
is forwarded to the AWS emulator, so what it knows stays reachable through the same URL.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from reelsight.local.service import configure_logging, service_parser, stop_event
from reelsight.local.template import ACCOUNT, REGION, Resource, load_resources

log = logging.getLogger("reelsight.local.control_plane")

TARGET_PREFIX = "SageMaker."
JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
ARN_PREFIX = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"

Operation = Callable[[dict[str, Any]], dict[str, Any]]


class ApiError(Exception):
    """An error answered as SageMaker does: ``{"__type": code, "message": ...}``."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True)
class DeclaredEndpoint:
    """The endpoint, its configuration and its model, as the templates declare them (resolved)."""

    endpoint_name: str
    config_name: str
    model_name: str
    production_variants: list[dict[str, Any]]
    async_inference_config: dict[str, Any]
    primary_container: dict[str, Any]
    execution_role_arn: str
    kms_key_id: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeclaredEndpoint:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def _referenced_id(value: Any) -> str | None:
    """The logical id that a ``Ref`` or ``Fn::GetAtt`` names."""
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("Ref"), str):
        return str(value["Ref"])
    att = value.get("Fn::GetAtt")
    if isinstance(att, list) and att:
        return str(att[0])
    if isinstance(att, str):
        return att.split(".")[0]
    return None


def _pick(resources: list[Resource], reference: Any) -> Resource | None:
    wanted = _referenced_id(reference)
    for res in resources:
        if res.logical_id == wanted:
            return res
    return resources[0] if len(resources) == 1 else None


def declared_endpoint(paths: list[Path]) -> DeclaredEndpoint:
    """The templates' endpoint; ValueError when they declare none (or no config or model for it)."""
    resources, _, resolver = load_resources(paths)
    by_type: dict[str, list[Resource]] = {}
    for res in resources.values():
        by_type.setdefault(res.type, []).append(res)
    endpoints = by_type.get("AWS::SageMaker::Endpoint") or []
    if not endpoints:
        raise ValueError("the templates declare no AWS::SageMaker::Endpoint")
    endpoint = endpoints[0]
    config = _pick(
        by_type.get("AWS::SageMaker::EndpointConfig", []), endpoint.properties.get("EndpointConfigName")
    )
    if config is None:
        raise ValueError(f"no endpoint config found for {endpoint.logical_id}")
    raw_variants = config.properties.get("ProductionVariants") or [{}]
    model = _pick(by_type.get("AWS::SageMaker::Model", []), raw_variants[0].get("ModelName"))
    if model is None:
        raise ValueError(f"no model found for {config.logical_id}")
    props = resolver.resolve(config.stack, config.properties)
    model_props = resolver.resolve(model.stack, model.properties)
    variants = [
        {**variant, "ModelName": model.physical_name} for variant in props.get("ProductionVariants") or []
    ]
    role = resolver.find(model.stack, _referenced_id(model.properties.get("ExecutionRoleArn")) or "")
    role_arn = (
        f"arn:aws:iam::{ACCOUNT}:role/{role.physical_name}"
        if role
        else str(model_props.get("ExecutionRoleArn"))
    )
    async_config = props.get("AsyncInferenceConfig") or {}
    return DeclaredEndpoint(
        endpoint_name=endpoint.physical_name,
        config_name=config.physical_name,
        model_name=model.physical_name,
        production_variants=variants,
        async_inference_config=async_config,
        primary_container=model_props.get("PrimaryContainer") or {},
        execution_role_arn=role_arn,
        kms_key_id=props.get("KmsKeyId"),
    )


def worker_healthy(worker_url: str, timeout: float = 2.0) -> bool:
    parsed = urlparse(worker_url)
    conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port or 80, timeout=timeout)
    try:
        conn.request("GET", "/ping")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


class EndpointOperations:
    """The endpoint's control-plane operations, with its status taken from the worker's health."""

    def __init__(
        self,
        declared: DeclaredEndpoint,
        worker_url: str,
        *,
        healthy: Callable[[str], bool] = worker_healthy,
        created: float | None = None,
    ) -> None:
        self.declared = declared
        self.worker_url = worker_url
        self._healthy = healthy
        self.created = time.time() if created is None else created
        self._was_in_service = False

    @property
    def endpoint_arn(self) -> str:
        return f"{ARN_PREFIX}:endpoint/{self.declared.endpoint_name.lower()}"

    @property
    def context_name(self) -> str:
        return f"{self.declared.endpoint_name}-aws-endpoint"[:120]

    def operations(self) -> dict[str, Operation]:
        return {
            "DescribeEndpoint": self.describe_endpoint,
            "ListEndpoints": self.list_endpoints,
            "DescribeEndpointConfig": self.describe_endpoint_config,
            "ListEndpointConfigs": self.list_endpoint_configs,
            "DescribeModel": self.describe_model,
            "ListModels": self.list_models,
            "ListContexts": self.list_contexts,
            "DescribeContext": self.describe_context,
        }

    def status(self) -> str:
        if self._healthy(self.worker_url):
            self._was_in_service = True
            return "InService"
        return "SystemUpdating" if self._was_in_service else "Creating"

    def _check_endpoint(self, request: dict[str, Any]) -> None:
        if request.get("EndpointName") != self.declared.endpoint_name:
            name = str(request.get("EndpointName"))
            raise ApiError(
                "ValidationException", f'Could not find endpoint "{ARN_PREFIX}:endpoint/{name.lower()}".'
            )

    def _summary(self, status: str) -> dict[str, Any]:
        return {
            "EndpointName": self.declared.endpoint_name,
            "EndpointArn": self.endpoint_arn,
            "CreationTime": self.created,
            "LastModifiedTime": self.created,
            "EndpointStatus": status,
        }

    def describe_endpoint(self, request: dict[str, Any]) -> dict[str, Any]:
        self._check_endpoint(request)
        status = self.status()
        image = self.declared.primary_container.get("Image")
        variants = []
        for variant in self.declared.production_variants:
            count = int(variant.get("InitialInstanceCount") or 1) if status == "InService" else 0
            weight = float(variant.get("InitialVariantWeight") or 1.0)
            variants.append(
                {
                    "VariantName": variant.get("VariantName", "AllTraffic"),
                    "DeployedImages": [
                        {"SpecifiedImage": image, "ResolvedImage": image, "ResolutionTime": self.created}
                    ],
                    "CurrentWeight": weight,
                    "DesiredWeight": weight,
                    "CurrentInstanceCount": count,
                    "DesiredInstanceCount": int(variant.get("InitialInstanceCount") or 1),
                }
            )
        return {
            **self._summary(status),
            "EndpointConfigName": self.declared.config_name,
            "ProductionVariants": variants,
            "AsyncInferenceConfig": self.declared.async_inference_config,
        }

    def list_endpoints(self, request: dict[str, Any]) -> dict[str, Any]:
        summary = self._summary(self.status())
        wanted_status = request.get("StatusEquals")
        if (wanted_status and summary["EndpointStatus"] != wanted_status) or not _name_matches(
            request, self.declared.endpoint_name
        ):
            return {"Endpoints": []}
        return {"Endpoints": [summary]}

    def _config_arn(self) -> str:
        return f"{ARN_PREFIX}:endpoint-config/{self.declared.config_name.lower()}"

    def describe_endpoint_config(self, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("EndpointConfigName") != self.declared.config_name:
            name = str(request.get("EndpointConfigName"))
            raise ApiError(
                "ValidationException",
                f'Could not find endpoint configuration "{ARN_PREFIX}:endpoint-config/{name.lower()}".',
            )
        answer: dict[str, Any] = {
            "EndpointConfigName": self.declared.config_name,
            "EndpointConfigArn": self._config_arn(),
            "ProductionVariants": self.declared.production_variants,
            "CreationTime": self.created,
            "AsyncInferenceConfig": self.declared.async_inference_config,
        }
        if self.declared.kms_key_id:
            answer["KmsKeyId"] = self.declared.kms_key_id
        return answer

    def list_endpoint_configs(self, request: dict[str, Any]) -> dict[str, Any]:
        if not _name_matches(request, self.declared.config_name):
            return {"EndpointConfigs": []}
        item = {
            "EndpointConfigName": self.declared.config_name,
            "EndpointConfigArn": self._config_arn(),
            "CreationTime": self.created,
        }
        return {"EndpointConfigs": [item]}

    def _model_arn(self) -> str:
        return f"{ARN_PREFIX}:model/{self.declared.model_name.lower()}"

    def describe_model(self, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("ModelName") != self.declared.model_name:
            name = str(request.get("ModelName"))
            raise ApiError(
                "ValidationException", f'Could not find model "{ARN_PREFIX}:model/{name.lower()}".'
            )
        return {
            "ModelName": self.declared.model_name,
            "PrimaryContainer": self.declared.primary_container,
            "ExecutionRoleArn": self.declared.execution_role_arn,
            "CreationTime": self.created,
            "ModelArn": self._model_arn(),
            "EnableNetworkIsolation": False,
        }

    def list_models(self, request: dict[str, Any]) -> dict[str, Any]:
        if not _name_matches(request, self.declared.model_name):
            return {"Models": []}
        item = {
            "ModelName": self.declared.model_name,
            "ModelArn": self._model_arn(),
            "CreationTime": self.created,
        }
        return {"Models": [item]}

    def _context(self) -> dict[str, Any]:
        return {
            "ContextName": self.context_name,
            "ContextArn": f"{ARN_PREFIX}:context/{self.context_name.lower()}",
            "Source": {"SourceUri": self.endpoint_arn},
            "ContextType": "Endpoint",
            "CreationTime": self.created,
            "LastModifiedTime": self.created,
        }

    def list_contexts(self, request: dict[str, Any]) -> dict[str, Any]:
        context = self._context()
        source, kind = request.get("SourceUri"), request.get("ContextType")
        if (source and source != self.endpoint_arn) or (kind and kind != "Endpoint"):
            return {"ContextSummaries": []}
        return {"ContextSummaries": [context]}

    def describe_context(self, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("ContextName") != self.context_name:
            raise ApiError("ResourceNotFound", f"Context {request.get('ContextName')} does not exist.")
        return {**self._context(), "Properties": {}}


def _name_matches(request: dict[str, Any], name: str) -> bool:
    contains = request.get("NameContains")
    return not contains or str(contains).lower() in name.lower()


class ControlPlane:
    """The HTTP front: dispatches ``X-Amz-Target`` to the handler tables, else forwards the request."""

    def __init__(
        self,
        handlers: Mapping[str, Operation],
        *,
        fallback_url: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.handlers = dict(handlers)
        self.fallback_url = fallback_url
        self._host = host
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._server.server_address[1]}"

    def start(self) -> ControlPlane:
        threading.Thread(target=self._server.serve_forever, name="control-plane", daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def answer(self, target: str, body: bytes) -> tuple[int, dict[str, Any]] | None:
        """(status, payload) for a known operation; None when no handler knows it."""
        operation = target.removeprefix(TARGET_PREFIX)
        handler = self.handlers.get(operation) if target.startswith(TARGET_PREFIX) else None
        if handler is None:
            return None
        try:
            request = json.loads(body or b"{}")
            if not isinstance(request, dict):
                raise ApiError("SerializationException", "the request body must be a JSON object")
            return 200, handler(request)
        except json.JSONDecodeError as exc:
            return 400, {
                "__type": "SerializationException",
                "message": f"the request body is not JSON: {exc}",
            }
        except ApiError as exc:
            return exc.status, {"__type": exc.code, "message": str(exc)}

    def forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Send the request on to the emulator unchanged; its answer, or UnknownOperationException."""
        if not self.fallback_url:
            target = headers.get("X-Amz-Target", "")
            payload = {"__type": "UnknownOperationException", "message": f"{target} is not supported locally"}
            return 400, [("Content-Type", JSON_CONTENT_TYPE)], json.dumps(payload).encode()
        parsed = urlparse(self.fallback_url)
        conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port or 80, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            kept = [
                (k, v)
                for k, v in response.getheaders()
                if k.lower() not in ("transfer-encoding", "connection")
            ]
            return response.status, kept, response.read()
        finally:
            conn.close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        plane = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                log.debug("%s " + format, self.address_string(), *args)

            def _send(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
                self.send_response(status)
                for key, value in headers:
                    if key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                if not any(k.lower() == "x-amzn-requestid" for k, _ in headers):
                    self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                if self.path == "/ping":
                    self._send(200, [("Content-Type", "application/json")], b'{"status": "ok"}')
                    return
                self._relay("GET", b"")

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                self._relay("POST", self.rfile.read(length) if length else b"")

            def _relay(self, method: str, body: bytes) -> None:
                answer = (
                    plane.answer(self.headers.get("X-Amz-Target", ""), body) if method == "POST" else None
                )
                if answer is not None:
                    status, payload = answer
                    self._send(status, [("Content-Type", JSON_CONTENT_TYPE)], json.dumps(payload).encode())
                    return
                try:
                    self._send(*plane.forward(method, self.path, dict(self.headers.items()), body))
                except OSError as exc:
                    payload = {
                        "__type": "ServiceUnavailable",
                        "message": f"the AWS emulator did not answer: {exc}",
                    }
                    self._send(503, [("Content-Type", JSON_CONTENT_TYPE)], json.dumps(payload).encode())

        return Handler


def write_config(
    path: Path,
    templates: list[Path],
    *,
    worker_url: str,
    fallback_url: str | None,
    processing: Mapping[str, Any] | None = None,
) -> None:
    """The control plane's configuration file, from the templates (what ``main`` reads); with
    ``processing`` (a ``reelsight.local.processing_service.ServiceConfig`` as JSON), it also serves
    the Processing table."""
    config = {
        "endpoint": asdict(declared_endpoint(templates)),
        "worker_url": worker_url,
        "fallback_url": fallback_url,
        "processing": dict(processing) if processing else None,
    }
    path.write_text(json.dumps(config, indent=2))


def _operations(config: Mapping[str, Any], endpoint: EndpointOperations) -> dict[str, Operation]:
    """The endpoint's table, and the Processing table when the config has one."""
    operations = endpoint.operations()
    if config.get("processing"):
        from reelsight.local.processing_service import ProcessingService, ServiceConfig

        service = ProcessingService(ServiceConfig.from_json(config["processing"]))
        operations.update(service.operations())
    return operations


def main(argv: list[str] | None = None) -> int:
    parser = service_parser("Local SageMaker control plane.", config_help="JSON file written by write_config")
    args = parser.parse_args(argv)
    configure_logging()
    config = json.loads(Path(args.config).read_text())
    endpoint = EndpointOperations(DeclaredEndpoint.from_json(config["endpoint"]), config["worker_url"])
    plane = ControlPlane(
        _operations(config, endpoint), fallback_url=config.get("fallback_url"), host=args.host, port=args.port
    )
    plane.start()
    log.info("control plane for %s listening on %s", endpoint.declared.endpoint_name, plane.url)
    stop_event().wait()
    plane.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
