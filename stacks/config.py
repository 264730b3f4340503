"""Typed deployment configuration, built once from the CDK context by ``app.py``.

Stacks and constructs receive these frozen dataclasses and never read the context themselves.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Re-exported for stacks/summary.py; the names themselves live in reelsight/contract/names.py.
from reelsight.contract.cost import PriceError, parse_prices, prices_json
from reelsight.contract.names import ROLE_METADATA_KEY as ROLE_METADATA_KEY
from reelsight.contract.names import S3_SCHEME
from reelsight.contract.options import deployment_environment

API_PORT = 8000
ENDPOINT_VARIANT = "AllTraffic"
# The torchvision model the async endpoint serves when the deployment's `model` is an MXNet one
# (the endpoint's image carries no MXNet): the default of the `model` key.
DEFAULT_ENDPOINT_MODEL = "maskrcnn"
# What the MXNet image bakes when the deployment's `model` is not an MXNet model with weights to bake.
DEFAULT_MXNET_MODEL = "deeplab_resnet101_citys"
# The segmentation image's MXNet builds (containers/segmentation/Dockerfile's MXNET_VARIANT and the
# locks requirements/mxnet.txt and mxnet-cu112.txt).
MXNET_CPU = "cpu"
MXNET_CUDA = "cu112"
# The CUDA build's base: MXNet's CUDA 11.2 wheel loads CUDA 11 runtime libraries (sonames stable across
# 11.x), cuDNN 8 and NCCL 2, which this image carries; the NVIDIA driver comes from the GPU instance.
MXNET_CUDA_BASE_IMAGE = "nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04"
# SageMaker families with NVIDIA GPUs on x86-64 (the image's platform): p2..p5*, g4dn, g5, g6, g6e,
# gr6. g4ad has AMD GPUs and g5g is Graviton (arm64), so neither runs the CUDA build.
_NVIDIA_FAMILY = re.compile(r"^(?:p\d+[a-z]*|g4dn|g[5-9][a-z]?|gr\d+)$")
_NOT_NVIDIA_X86 = frozenset({"g5g"})


def has_nvidia_gpu(instance_type: str) -> bool:
    """True for SageMaker instance types (``ml.<family>.<size>``) with NVIDIA GPUs on x86-64."""
    parts = instance_type.split(".")
    family = parts[1] if len(parts) == 3 and parts[0] == "ml" else ""
    return bool(_NVIDIA_FAMILY.match(family)) and family not in _NOT_NVIDIA_X86


def mxnet_variant(instance_type: str) -> str:
    """The MXNet build for an instance type: CUDA on NVIDIA GPU instances, CPU elsewhere."""
    return MXNET_CUDA if has_nvidia_gpu(instance_type) else MXNET_CPU


@dataclass(frozen=True, kw_only=True)
class ModelArtifacts:
    """A bucket (and prefix) of model artifacts that the endpoint and the Processing jobs may read.

    ``prefix`` is ``""`` for the whole bucket, else it ends with ``/``; ``key_arn`` is the KMS key
    the objects are encrypted with, when it is a customer-managed one.
    """

    bucket: str
    prefix: str = ""
    key_arn: str | None = None


class ConfigError(ValueError):
    """A context value is missing or malformed; the message names the key."""


@dataclass(frozen=True, kw_only=True)
class NetworkConfig:
    nat_gateways: int = 0
    max_azs: int = 2
    # Admitted read-only by the S3 gateway endpoint, so VPC-mode Processing jobs reach it too.
    model_artifacts: ModelArtifacts | None = None


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
    # The torchvision model the endpoint's image bakes and serves; "" means ``model`` itself.
    endpoint_model: str = ""
    fps: float = 1.0
    backlog_target_per_instance: float = 5.0
    scale_in_cooldown_seconds: int = 300
    scale_out_cooldown_seconds: int = 120
    invocation_timeout_seconds: int = 3600
    request_ttl_seconds: int = 21600
    async_max_bytes: int = 1_000_000_000
    prices: str = ""  # the `prices` context as canonical JSON (reelsight.contract.cost); "": none
    model_artifacts: ModelArtifacts | None = None

    @property
    def serving_model(self) -> str:
        """The model the worker image bakes and the async endpoint loads."""
        return self.endpoint_model or self.model

    def run_defaults(self) -> dict[str, str]:
        """The deployment's run defaults, given unchanged to the dispatcher and (through it) every
        Processing job, so the job record states what the worker runs."""
        return deployment_environment(model=self.model, fps=self.fps)

    def serving_defaults(self) -> dict[str, str]:
        """The run defaults of the SageMaker model: ``run_defaults`` with the endpoint's own model.

        They differ only when ``model`` is an MXNet model; then every upload that keeps the default
        goes to a Processing job, and the ones that reach the endpoint name their torchvision model.
        """
        return deployment_environment(model=self.serving_model, fps=self.fps)


@dataclass(frozen=True, kw_only=True)
class ProcessingConfig:
    instance_type: str = "ml.g4dn.xlarge"
    instance_count: int = 1
    volume_size_gb: int = 100
    max_runtime_seconds: int = 86400
    prices: str = ""  # the `prices` context as canonical JSON (reelsight.contract.cost); "": none
    # The GluonCV model whose weights the MXNet image bakes (`model` when it is one, else DeepLab).
    mxnet_model: str = DEFAULT_MXNET_MODEL
    model_artifacts: ModelArtifacts | None = None

    def mxnet_image_build_args(self) -> dict[str, str]:
        """The segmentation image's build arguments: the baked model, the MXNet build and its base."""
        variant = mxnet_variant(self.instance_type)
        args = {"MODEL": self.mxnet_model, "MXNET_VARIANT": variant}
        return {**args, "BASE_IMAGE": MXNET_CUDA_BASE_IMAGE} if variant == MXNET_CUDA else args


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
    "endpointModel": "",  # "": `model`, or maskrcnn when `model` is an MXNet model
    "modelArtifacts": "",  # s3://bucket/prefix/ (or bucket/prefix) the roles may read weights from
    "modelArtifactsKeyArn": "",  # the KMS key of those objects, when customer-managed
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
    models = _models(get)
    artifacts = _model_artifacts(get)
    dispatcher_timeout = _int(get, "dispatcherTimeoutSeconds", minimum=10, maximum=900)
    prices = _prices(get)
    return AppConfig(
        network=NetworkConfig(
            nat_gateways=_int(get, "natGateways", minimum=0, maximum=2), model_artifacts=artifacts
        ),
        data=DataConfig(
            retain_data=removal == "retain",
            ingest_visibility_timeout_seconds=6 * dispatcher_timeout,
        ),
        endpoint=EndpointConfig(
            instance_type=_ml_instance(get, "instanceType"),
            max_instances=_int(get, "maxInstances", minimum=1, maximum=100),
            max_concurrent_invocations=_int(get, "maxConcurrentInvocations", minimum=1, maximum=1000),
            model=models.model,
            endpoint_model=models.endpoint,
            fps=fps,
            prices=prices,
            model_artifacts=artifacts,
        ),
        processing=ProcessingConfig(
            instance_type=_ml_instance(get, "processingInstanceType"),
            instance_count=_int(get, "processingInstanceCount", minimum=1, maximum=100),
            prices=prices,
            mxnet_model=models.mxnet,
            model_artifacts=artifacts,
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


@dataclass(frozen=True)
class _Models:
    model: str  # the deployment's default model (run defaults, dispatcher, Processing jobs)
    endpoint: str  # what the endpoint serves; "" when it is ``model``
    mxnet: str  # what the MXNet image bakes


def _spec(key: str, name: str) -> tuple[str, str]:
    """The registry's canonical name and framework for ``name`` (ConfigError naming ``key``)."""
    from reelsight.models.registry import get_spec

    try:
        spec = get_spec(name)
        return spec.name, spec.framework
    except Exception as error:
        raise ConfigError(f"context {key!r}: {error}") from None


def _models(get: ContextGetter) -> _Models:
    """`model` and `endpointModel`; an MXNet `model` runs in the MXNet image, the endpoint keeps torch.

    The built-in SSD has no weights to bake (they come from a training job), so it cannot be the
    deployment's default: a run names it with its weights.
    """
    model = _str(get, "model")
    canonical, framework = _spec("model", model)
    if canonical == "builtin_ssd":
        raise ConfigError(
            "context 'model': builtin_ssd has no pretrained weights to bake into the MXNet image; keep a "
            "baked 'model' and name model=builtin_ssd with weights=s3://... per upload or batch, with "
            "-c modelArtifacts=s3://<bucket>/<prefix>/ so the jobs may read those weights"
        )
    endpoint = _str(get, "endpointModel")
    if endpoint and _spec("endpointModel", endpoint)[1] != "torchvision":
        raise ConfigError(f"context 'endpointModel' must be a torchvision model, got {endpoint!r}")
    if framework == "mxnet":
        return _Models(model=model, endpoint=endpoint or DEFAULT_ENDPOINT_MODEL, mxnet=canonical)
    if endpoint and endpoint != model:
        # Uploads that keep the default reach the endpoint with no model option: it must run `model`.
        raise ConfigError(
            f"context 'endpointModel' applies only when 'model' is an MXNet model; {model} is served as is"
        )
    return _Models(model=model, endpoint="", mxnet=DEFAULT_MXNET_MODEL)


_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")


def _model_artifacts(get: ContextGetter) -> ModelArtifacts | None:
    """`modelArtifacts` (``s3://bucket/prefix/`` or ``bucket/prefix``) and `modelArtifactsKeyArn`."""
    location = _str(get, "modelArtifacts")
    key_arn = _str(get, "modelArtifactsKeyArn") or None
    if not location:
        if key_arn:
            raise ConfigError("context 'modelArtifactsKeyArn' needs 'modelArtifacts' (s3://bucket/prefix/)")
        return None
    bucket, _, prefix = location.removeprefix(S3_SCHEME).partition("/")
    if not _BUCKET_NAME.match(bucket) or ".." in bucket:
        raise ConfigError(f"context 'modelArtifacts' must be s3://<bucket>/<prefix>/, got {location!r}")
    if any(char in prefix for char in "*?$"):
        raise ConfigError(f"context 'modelArtifacts': the prefix must be literal (no * ? $), got {prefix!r}")
    if key_arn and not _KMS_KEY_ARN.match(key_arn):
        raise ConfigError(f"context 'modelArtifactsKeyArn' must be a KMS key ARN, got {key_arn!r}")
    prefix = prefix.strip("/")
    return ModelArtifacts(bucket=bucket, prefix=f"{prefix}/" if prefix else "", key_arn=key_arn)
