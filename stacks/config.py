"""Typed deployment configuration, built once from the CDK context by ``app.py``.

Stacks and constructs receive these frozen dataclasses and never read the context themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Re-exported for stacks/summary.py; the names themselves live in reelsight/contract/names.py.
from reelsight.contract.cost import PriceError, parse_prices, prices_json
from reelsight.contract.names import ROLE_METADATA_KEY as ROLE_METADATA_KEY
from reelsight.contract.options import deployment_environment

API_PORT = 8000
ENDPOINT_VARIANT = "AllTraffic"


class ConfigError(ValueError):
    """A context value is missing or malformed; the message names the key."""


@dataclass(frozen=True, kw_only=True)
class NetworkConfig:
    nat_gateways: int = 0
    max_azs: int = 2


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    retain_data: bool = True
    noncurrent_version_expiration_days: int = 30
    infrequent_access_transition_days: int = 30
    ingest_visibility_timeout_seconds: int = 360
    ingest_max_receive_count: int = 5


@dataclass(frozen=True, kw_only=True)
class EndpointConfig:
    instance_type: str = "ml.g4dn.xlarge"
    max_instances: int = 5
    max_concurrent_invocations: int = 2
    model: str = "maskrcnn"
    fps: float = 1.0
    backlog_target_per_instance: float = 5.0
    scale_in_cooldown_seconds: int = 300
    scale_out_cooldown_seconds: int = 120
    invocation_timeout_seconds: int = 3600
    request_ttl_seconds: int = 21600
    async_max_bytes: int = 1_000_000_000
    prices: str = ""  # the `prices` context as canonical JSON (reelsight.contract.cost); "": none

    def run_defaults(self) -> dict[str, str]:
        """The deployment's run defaults, given unchanged to the SageMaker model, the dispatcher and
        (through it) every Processing job, so the job record states what the worker runs."""
        return deployment_environment(model=self.model, fps=self.fps)


@dataclass(frozen=True, kw_only=True)
class ProcessingConfig:
    instance_type: str = "ml.g4dn.xlarge"
    instance_count: int = 1
    volume_size_gb: int = 100
    max_runtime_seconds: int = 86400
    prices: str = ""  # the `prices` context as canonical JSON (reelsight.contract.cost); "": none


@dataclass(frozen=True, kw_only=True)
class LambdaConfig:
    dispatcher_timeout_seconds: int = 60
    results_timeout_seconds: int = 60
    batch_size: int = 10
    max_concurrency: int = 5
    powertools_layer_version: int = 27


@dataclass(frozen=True, kw_only=True)
class NotificationConfig:
    alarm_email: str | None = None
    results_email: str | None = None


@dataclass(frozen=True, kw_only=True)
class ApiConfig:
    instance_type: str = "t3.small"
    port: int = API_PORT
    private_zone_name: str = "reelsight.internal"
    host_name: str = "api"


def api_url(config: ApiConfig) -> str:
    """The API's URL inside the VPC; constant, so jobs and Lambdas know it before the host exists.

    https: the host serves TLS with a certificate that clients pin (reelsight.tls)."""
    return f"https://{config.host_name}.{config.private_zone_name}:{config.port}"


@dataclass(frozen=True, kw_only=True)
class AppConfig:
    network: NetworkConfig
    data: DataConfig
    endpoint: EndpointConfig
    processing: ProcessingConfig
    lambdas: LambdaConfig
    notifications: NotificationConfig
    api: ApiConfig


ContextGetter = Callable[[str], Any]

# Every context key the app reads, with its default (documented in docs/deploy.md).
CONTEXT_DEFAULTS: dict[str, Any] = {
    "instanceType": "ml.g4dn.xlarge",
    "maxInstances": 5,
    "maxConcurrentInvocations": 2,
    "model": "maskrcnn",
    "fps": 1,
    "processingInstanceType": "ml.g4dn.xlarge",
    "processingInstanceCount": 1,
    "natGateways": 0,
    "alarmEmail": "",
    "resultsEmail": "",
    "dataRemovalPolicy": "retain",
    "apiInstanceType": "t3.small",
    "dispatcherTimeoutSeconds": 60,
    "powertoolsLayerVersion": 27,
    "prices": {},  # {"ml.g4dn.xlarge": 0.80}: USD per hour over reelsight.contract.cost's table
}


def _value(get: ContextGetter, key: str) -> Any:
    value = get(key)
    return CONTEXT_DEFAULTS[key] if value is None else value


def _int(get: ContextGetter, key: str, *, minimum: int, maximum: int) -> int:
    raw = _value(get, key)
    try:
        number = int(str(raw))
    except ValueError:
        raise ConfigError(f"context {key!r} must be an integer, got {raw!r}") from None
    if not minimum <= number <= maximum:
        raise ConfigError(f"context {key!r} must be between {minimum} and {maximum}, got {number}")
    return number


def _str(get: ContextGetter, key: str) -> str:
    return str(_value(get, key)).strip()


def _optional_email(get: ContextGetter, key: str) -> str | None:
    text = _str(get, key)
    if not text:
        return None
    if "@" not in text or " " in text:
        raise ConfigError(f"context {key!r} must be an e-mail address, got {text!r}")
    return text


def _ml_instance(get: ContextGetter, key: str) -> str:
    text = _str(get, key)
    if not text.startswith("ml."):
        raise ConfigError(f"context {key!r} must be a SageMaker instance type such as ml.g4dn.xlarge")
    return text


def _prices(get: ContextGetter) -> str:
    """The `prices` context (a JSON object, as text or as cdk.json's object) as canonical JSON."""
    raw = _value(get, "prices")
    try:
        prices = parse_prices(raw if isinstance(raw, dict) else str(raw))
    except PriceError as error:
        raise ConfigError(f"context 'prices': {error}") from None
    return prices_json(prices) if prices else ""


def config_from_context(get: ContextGetter) -> AppConfig:
    """Build the configuration from a context getter such as ``app.node.try_get_context``."""
    removal = _str(get, "dataRemovalPolicy").lower()
    if removal not in ("retain", "destroy"):
        raise ConfigError(f"context 'dataRemovalPolicy' must be 'retain' or 'destroy', got {removal!r}")
    fps_raw = _value(get, "fps")
    try:
        fps = float(str(fps_raw))
    except ValueError:
        raise ConfigError(f"context 'fps' must be a number, got {fps_raw!r}") from None
    if not 0 < fps <= 120:
        raise ConfigError(f"context 'fps' must be in (0, 120], got {fps}")
    model = _str(get, "model")
    _check_model(model)
    dispatcher_timeout = _int(get, "dispatcherTimeoutSeconds", minimum=10, maximum=900)
    prices = _prices(get)
    return AppConfig(
        network=NetworkConfig(nat_gateways=_int(get, "natGateways", minimum=0, maximum=2)),
        data=DataConfig(
            retain_data=removal == "retain",
            ingest_visibility_timeout_seconds=6 * dispatcher_timeout,
        ),
        endpoint=EndpointConfig(
            instance_type=_ml_instance(get, "instanceType"),
            max_instances=_int(get, "maxInstances", minimum=1, maximum=100),
            max_concurrent_invocations=_int(get, "maxConcurrentInvocations", minimum=1, maximum=1000),
            model=model,
            fps=fps,
            prices=prices,
        ),
        processing=ProcessingConfig(
            instance_type=_ml_instance(get, "processingInstanceType"),
            instance_count=_int(get, "processingInstanceCount", minimum=1, maximum=100),
            prices=prices,
        ),
        lambdas=LambdaConfig(
            dispatcher_timeout_seconds=dispatcher_timeout,
            powertools_layer_version=_int(get, "powertoolsLayerVersion", minimum=1, maximum=1000),
        ),
        notifications=NotificationConfig(
            alarm_email=_optional_email(get, "alarmEmail"),
            results_email=_optional_email(get, "resultsEmail"),
        ),
        api=ApiConfig(instance_type=_str(get, "apiInstanceType")),
    )


def _check_model(name: str) -> None:
    try:
        from reelsight.models.registry import get_spec
    except ImportError:  # the registry module is optional at synth time
        return
    try:
        get_spec(name)
    except Exception as error:
        raise ConfigError(f"context 'model': {error}") from None
