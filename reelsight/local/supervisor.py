"""The local stack's supervisor: starts, watches and stops every process of the stack.

Processes: the moto server (S3, SQS, SNS, DynamoDB), the worker (``reelsight serve``),
the local async endpoint, one event-source runner per Lambda function and, when
available, the API server. Each runs in its own process group with the stack's marker
in its environment; a process that dies is restarted with exponential backoff. The
supervisor writes everything a client needs (URLs, names, pids, logs) to ``state.json``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from reelsight import envvars
from reelsight.contract.names import UPLOAD_PREFIX
from reelsight.contract.processing import ProcessingJobDefinition
from reelsight.local.state import kill_group, pid_alive, read_state, terminate_marked, write_state
from reelsight.local.template import EndpointPlan, FunctionPlan, StackPlan, build_plan, template_paths
from reelsight.testing.moto_server import FAKE_CREDENTIALS, free_port

log = logging.getLogger("reelsight.local")

# torchvision checkpoint file prefixes in the torch hub cache, per registry model name.
PRETRAINED_FILES = {
    "maskrcnn": "maskrcnn_resnet50_fpn_coco",
    "maskrcnn_v2": "maskrcnn_resnet50_fpn_v2_coco",
    "fasterrcnn": "fasterrcnn_resnet50_fpn_coco",
    "retinanet": "retinanet_resnet50_fpn_coco",
    "ssdlite": "ssdlite320_mobilenet_v3_large_coco",
    "deeplabv3_resnet50": "deeplabv3_resnet50_coco",
    "deeplabv3_resnet101": "deeplabv3_resnet101_coco",
    "deeplabv3_mobilenet_v3": "deeplabv3_mobilenet_v3_large_coco",
}


@dataclass
class LocalOptions:
    state_dir: str
    cdk_out: str = "cdk.out"
    model: str = "maskrcnn"
    weights: str = "auto"  # auto = pretrained (downloaded when missing), else random
    fps: str = "1"
    max_frames: str = ""
    size: str = "320x180"
    resize: str = "fit"
    api: bool = True
    worker_concurrency: int | None = None
    startup_timeout: float = 240.0
    extra_worker_env: dict[str, str] = field(default_factory=dict)


def pretrained_cached(model: str) -> bool:
    prefix = PRETRAINED_FILES.get(model)
    torch_home = Path(os.environ.get("TORCH_HOME") or Path.home() / ".cache" / "torch")
    checkpoints = torch_home / "hub" / "checkpoints"
    return bool(prefix) and checkpoints.is_dir() and any(checkpoints.glob(f"{prefix}*.pth"))


def resolve_weights(options: LocalOptions, echo: Callable[[str], None] = log.info) -> tuple[str, bool]:
    """(weights, random) for the worker. ``auto``: pretrained when cached; else downloaded into the
    torch hub cache (bounded: ``weights.download_limits()``); else, when that fails, random, loudly."""
    if options.weights != "auto":
        return options.weights, options.weights == "random"
    if pretrained_cached(options.model):
        return "pretrained", False
    from reelsight.errors import ModelError
    from reelsight.models import get_spec
    from reelsight.models import weights as weight_loading

    spec = get_spec(options.model)
    echo(f"no pretrained weights for {spec.name} in the torch hub cache: downloading them")
    try:
        weight_loading.fetch_pretrained(spec)
    except ModelError as exc:
        weight_loading.warn_random_fallback(spec.name, exc)
        return "random", True
    return "pretrained", False


@dataclass
class ManagedProcess:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    health_url: str | None = None
    restart: bool = True
    port: int | None = None
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    backoff: float = 1.0
    started_at: float = 0.0

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as logf:
            logf.write(f"--- {time.strftime('%H:%M:%S')} starting {' '.join(self.argv)}\n".encode())
            logf.flush()
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=logf,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stop() takes its children too
            )
        self.started_at = time.monotonic()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def healthy(self) -> bool:
        if not self.alive():
            return False
        if not self.health_url:
            return True
        try:
            with urllib.request.urlopen(self.health_url, timeout=2) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def terminate(self) -> None:
        """Ask the process group to stop (SIGTERM) without waiting."""
        if self.proc is not None and self.proc.poll() is None:
            kill_group(self.proc.pid, signal.SIGTERM)

    def stop(self, grace: float = 10.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            kill_group(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=grace)
        kill_group(self.proc.pid, signal.SIGKILL)  # whatever the group left behind
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)

    def describe(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "port": self.port,
            "log": str(self.log_path),
            "restarts": self.restarts,
            "alive": self.alive(),
            "health_url": self.health_url,
        }


def stack_names(plan: StackPlan) -> dict[str, str | None]:
    """Input bucket, results bucket, jobs table and results topic: by role, else the Lambdas' environment,
    else the stack outputs (the same names ``reelsight.client`` reads from a deployed stack)."""
    from reelsight.client import match_outputs

    outputs = match_outputs(plan.outputs)

    def by_role(items: list[Any], *roles: str) -> str | None:
        for item in items:
            if item.role in roles:
                return str(item.name if hasattr(item, "name") else item)
        return None

    def topic_arn(*roles: str) -> str | None:
        for topic in plan.topics:
            if topic.role in roles:
                return topic.arn
        return None

    dispatch_env: dict[str, str] = {}
    for fn in plan.functions:
        dispatch_env.update(fn.environment)
    return {
        "input_bucket": by_role(plan.buckets, "input-bucket")
        or dispatch_env.get(envvars.INPUT_BUCKET)
        or outputs.get("input_bucket"),
        "results_bucket": by_role(plan.buckets, "results-bucket")
        or dispatch_env.get(envvars.RESULTS_BUCKET)
        or outputs.get("results_bucket"),
        "jobs_table": by_role(plan.tables, "jobs-table")
        or dispatch_env.get(envvars.JOBS_TABLE)
        or outputs.get("jobs_table"),
        "results_topic": topic_arn("results-topic")
        or dispatch_env.get(envvars.RESULTS_TOPIC_ARN)
        or outputs.get("results_topic"),
        "upload_prefix": dispatch_env.get(envvars.UPLOAD_PREFIX) or UPLOAD_PREFIX,
    }


def _with_local_api(definition_json: str, api_url: str | None) -> str:
    """The template's Processing job definition, reporting to the local API (or to none).

    The local API serves plain http on loopback, so there is no certificate to pin."""
    definition = ProcessingJobDefinition.from_json(definition_json)
    return replace(definition, api_url=api_url or None, api_certificate_parameter=None).to_json()


@dataclass(frozen=True)
class LocalAddresses:
    """Where the local stack's processes listen (all on loopback)."""

    moto_port: int
    worker_port: int
    endpoint_port: int
    api_port: int | None
    control_plane_port: int | None = None

    @property
    def moto_url(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"

    @property
    def worker_url(self) -> str:
        return f"http://127.0.0.1:{self.worker_port}"

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.endpoint_port}"

    @property
    def api_url(self) -> str | None:
        return f"http://127.0.0.1:{self.api_port}" if self.api_port else None

    @property
    def control_plane_url(self) -> str | None:
        return f"http://127.0.0.1:{self.control_plane_port}" if self.control_plane_port else None

    @property
    def aws_env(self) -> dict[str, str]:
        """AWS clients' endpoint: the moto server."""
        return {"AWS_ENDPOINT_URL": self.moto_url}

    @property
    def lambda_aws_env(self) -> dict[str, str]:
        """As ``aws_env``, with SageMaker's runtime calls going to the local async endpoint and its API
        (CreateProcessingJob among it) to the control plane."""
        env = {**self.aws_env, "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": self.endpoint_url}
        if self.control_plane_url:
            env["AWS_ENDPOINT_URL_SAGEMAKER"] = self.control_plane_url
        return env


# The command each image's entry point runs for `process`: the worker image's entry point runs
# `reelsight process`, the segmentation image's `python -m reelsight.mx process` in its own environment.
WORKER_COMMAND = (sys.executable, "-m", "reelsight")
MXNET_COMMAND = (".venv-mxnet/bin/python", "-m", "reelsight.mx")


def processing_images(plan: StackPlan) -> dict[str, list[str]]:
    """ImageUri -> local command, for the images of the templates' Processing job definition."""
    images: dict[str, list[str]] = {}
    for fn in plan.functions:
        text = fn.environment.get(envvars.PROCESSING_JOB_DEFINITION)
        if not text:
            continue
        definition = ProcessingJobDefinition.from_json(text)
        images[definition.image_uri] = list(WORKER_COMMAND)
        if definition.mxnet_image_uri:
            images[definition.mxnet_image_uri] = list(MXNET_COMMAND)
    return images


def rule_targets(plan: StackPlan) -> list[dict[str, Any]]:
    """The templates' EventBridge rules as the Processing service sends to them: pattern, queue URLs."""
    urls = {queue.arn: queue.url for queue in plan.queues}
    return [
        {"pattern": rule.event_pattern, "queue_urls": [urls[arn] for arn in rule.queue_arns if arn in urls]}
        for rule in plan.rules
    ]


def functions_with_event_sources(plan: StackPlan) -> list[FunctionPlan]:
    """The functions that get a runner: those some event source delivers to."""
    with_sources = {s.function for s in plan.event_sources}
    return [fn for fn in plan.functions if fn.name in with_sources]


class StartInterrupted(Exception):
    """Asked to stop while starting."""


class Supervisor:
    def __init__(self, options: LocalOptions) -> None:
        self.options = options
        self.dir = Path(options.state_dir)
        self.logs = self.dir / "logs"
        self.marker = f"reelsight-local-{uuid.uuid4().hex[:12]}"
        self.processes: dict[str, ManagedProcess] = {}
        self.stop_event = threading.Event()
        self.state: dict[str, Any] = {}
        self.api_token = uuid.uuid4().hex
        self.weights: str | None = None  # settled at start: "auto" becomes pretrained or random
        self.base_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
            **FAKE_CREDENTIALS,
            envvars.LOCAL_STACK_MARKER: self.marker,
            "PYTHONUNBUFFERED": "1",
        }

    # --- state ---

    def _save(self, status: str, **extra: Any) -> None:
        self.state.update(extra)
        self.state["status"] = status
        self.state["processes"] = {name: p.describe() for name, p in self.processes.items()}
        self.state["updated_at"] = time.time()
        write_state(self.dir, self.state)

    # --- lifecycle ---

    def _spawn(self, proc: ManagedProcess) -> ManagedProcess:
        if self.stop_event.is_set():
            raise StartInterrupted()
        self.processes[proc.name] = proc
        proc.start()
        log.info("started %s (pid %s)", proc.name, proc.pid)
        return proc

    def _python(self, *args: str) -> list[str]:
        return [sys.executable, *args]

    def _wait_healthy(self, proc: ManagedProcess, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stop_event.is_set():
            if proc.healthy():
                return
            if not proc.alive():
                raise RuntimeError(
                    f"{proc.name} exited with code {proc.proc and proc.proc.returncode}; see {proc.log_path}"
                )
            time.sleep(0.3)
        if not self.stop_event.is_set():
            raise RuntimeError(f"{proc.name} not healthy after {timeout:.0f}s; see {proc.log_path}")

    def start(self) -> None:
        paths = self._begin()
        moto_port = free_port()
        self._start_moto(moto_port)
        plan, endpoint_plan = self._provision(paths, f"http://127.0.0.1:{moto_port}")
        names = stack_names(plan)
        api_port = free_port() if self.options.api and _api_available() else None
        weights, random_weights = resolve_weights(self.options)
        self.weights = weights
        addresses = LocalAddresses(
            moto_port,
            worker_port=free_port(),
            endpoint_port=free_port(),
            api_port=api_port,
            control_plane_port=free_port(),
        )
        concurrency = self.options.worker_concurrency or endpoint_plan.max_concurrency
        jobs_table = names.get("jobs_table")
        worker = self._spawn(
            self.build_worker(endpoint_plan, addresses, weights, concurrency, jobs_table=jobs_table)
        )
        endpoint = self._spawn(self.build_async_endpoint(endpoint_plan, addresses, concurrency))
        control_plane = self._spawn(self.build_control_plane(paths, addresses, plan))
        for fn in functions_with_event_sources(plan):
            self._spawn(self.build_lambda_runner(fn, addresses))
        if addresses.api_port:
            self._spawn(self.build_api(names, addresses))
        self._save(
            "starting",
            moto_url=addresses.moto_url,
            endpoint_url=addresses.endpoint_url,
            worker_url=addresses.worker_url,
            api_url=addresses.api_url,
            api_token=self.api_token if addresses.api_url else None,
            endpoint_name=endpoint_plan.name,
            names=names,
            weights=weights,
            random_weights=random_weights,
            model=self.options.model,
            env={**FAKE_CREDENTIALS, **addresses.lambda_aws_env},
            control_plane_url=addresses.control_plane_url,
            client_env=self._client_env(addresses),
        )
        self._wait_healthy(endpoint, 30)
        self._wait_healthy(control_plane, 30)
        self._wait_healthy(worker, self.options.startup_timeout)
        if self.stop_event.is_set():
            raise StartInterrupted()
        self._save("ready", ready_at=time.time())
        log.info("local stack ready (%s)", self.marker)

    def _begin(self) -> list[Path]:
        """Create the state directory, record that the stack is starting; the templates to run."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        self.state = {
            "supervisor_pid": os.getpid(),
            "marker": self.marker,
            "started_at": time.time(),
            "options": asdict(self.options),
        }
        self._save("starting")
        paths = template_paths(self.options.cdk_out)
        if not paths:
            raise RuntimeError(f"no templates in {self.options.cdk_out}/; run `make synth` first")
        return paths

    def _start_moto(self, port: int) -> None:
        """Start the AWS emulator and point this process's AWS clients at it."""
        moto = self._spawn(self.build_moto(port))
        self._wait_healthy(moto, 30)
        os.environ.update({**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"})

    def _provision(self, paths: list[Path], moto_url: str) -> tuple[StackPlan, EndpointPlan]:
        """Create the templates' resources on moto; the plan is kept in plan.json for the Lambda runners."""
        plan = build_plan(paths, sqs_base_url=moto_url)
        if plan.endpoint is None:
            raise RuntimeError("the templates declare no AWS::SageMaker::Endpoint")
        from reelsight.local.provision import provision

        provision(plan)
        self._plan_path.write_text(json.dumps(plan.to_json(), indent=2))
        return plan, plan.endpoint

    @property
    def _plan_path(self) -> Path:
        return self.dir / "plan.json"

    # --- the supervised processes ---

    def build_moto(self, port: int) -> ManagedProcess:
        return ManagedProcess(
            "moto",
            # moto's server, with S3 events carrying versionId and sequencer as AWS's do
            self._python("-m", "reelsight.local.moto_events", "-H", "127.0.0.1", "-p", str(port)),
            self.base_env,
            self.logs / "moto.log",
            health_url=f"http://127.0.0.1:{port}/moto-api/",
            restart=False,  # its data lives in memory: a restart would lose the stack
            port=port,
        )

    def build_worker(
        self,
        endpoint: EndpointPlan,
        addresses: LocalAddresses,
        weights: str,
        concurrency: int,
        *,
        jobs_table: str | None = None,
    ) -> ManagedProcess:
        """``reelsight serve`` with the endpoint container's environment and the local options; with
        the local jobs table, where it records RUNNING and its progress."""
        return ManagedProcess(
            "worker",
            self._python(
                "-m", "reelsight", "serve", "--host", "127.0.0.1", "--port", str(addresses.worker_port)
            ),
            self._worker_env(endpoint, addresses, weights, concurrency, jobs_table),
            self.logs / "worker.log",
            health_url=f"{addresses.worker_url}/ping",
            port=addresses.worker_port,
        )

    def _worker_env(
        self,
        endpoint: EndpointPlan,
        addresses: LocalAddresses,
        weights: str,
        concurrency: int,
        jobs_table: str | None = None,
    ) -> dict[str, str]:
        model_dir = self.dir / "model"
        model_dir.mkdir(exist_ok=True)
        env = {
            **self.base_env,
            **addresses.aws_env,
            **endpoint.container_environment,
            **self.run_defaults(),
            envvars.WEIGHTS: weights,  # the worker loads exactly these (a model directory could differ)
            envvars.MODEL_DIR: str(model_dir),
            envvars.PORT: str(addresses.worker_port),
            envvars.MAX_CONCURRENCY: str(concurrency),
            envvars.DEVICE: "auto",
            **({envvars.JOBS_TABLE: jobs_table} if jobs_table else {}),
            **self.options.extra_worker_env,
        }
        if addresses.api_url:  # where progress reports go
            env[envvars.API_URL] = addresses.api_url
            env[envvars.API_TOKEN] = self.api_token
        return env

    def build_async_endpoint(
        self, endpoint: EndpointPlan, addresses: LocalAddresses, concurrency: int
    ) -> ManagedProcess:
        """The local async endpoint in front of the worker; writes its configuration (endpoint.json)."""
        config = {
            "name": endpoint.name,
            "output_path": endpoint.output_path,
            "failure_path": endpoint.failure_path,
            "worker_url": addresses.worker_url,
            "success_topic": endpoint.success_topic,
            "error_topic": endpoint.error_topic,
            "max_concurrency": concurrency * endpoint.instance_count,
            "include_response_in": endpoint.include_response_in,
            "queue_path": str(self._fresh_endpoint_queue()),
        }
        config_path = self.dir / "endpoint.json"
        config_path.write_text(json.dumps(config, indent=2))
        return ManagedProcess(
            "endpoint",
            self._python(
                "-m",
                "reelsight.local.async_endpoint",
                "--config",
                str(config_path),
                "--port",
                str(addresses.endpoint_port),
            ),
            {**self.base_env, **addresses.aws_env},
            self.logs / "endpoint.log",
            health_url=f"{addresses.endpoint_url}/ping",
            port=addresses.endpoint_port,
        )

    def _fresh_endpoint_queue(self) -> Path:
        """The endpoint's durable queue: it outlives the endpoint's restarts, not the stack (a new
        stack has a new moto, so an older queue's requests could not be served)."""
        path = self.dir / "endpoint-queue.sqlite3"
        for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            stale.unlink(missing_ok=True)
        return path

    def build_control_plane(
        self, templates: list[Path], addresses: LocalAddresses, plan: StackPlan | None = None
    ) -> ManagedProcess:
        """The SageMaker control plane for the templates' endpoint and, given the plan, the local
        Processing service (its config: control-plane.json)."""
        from reelsight.local.control_plane import write_config

        config_path = self.dir / "control-plane.json"
        write_config(
            config_path,
            templates,
            worker_url=addresses.worker_url,
            fallback_url=addresses.moto_url,
            processing=self.processing_config(plan, addresses) if plan is not None else None,
        )
        config_path.chmod(0o600)  # it holds the local API's token for the Processing hosts
        return ManagedProcess(
            "control-plane",
            self._python(
                "-m",
                "reelsight.local.control_plane",
                "--config",
                str(config_path),
                "--port",
                str(addresses.control_plane_port),
            ),
            self.base_env,
            self.logs / "control-plane.log",
            health_url=f"{addresses.control_plane_url}/ping",
            port=addresses.control_plane_port,
        )

    def processing_config(self, plan: StackPlan, addresses: LocalAddresses) -> dict[str, Any]:
        """The local Processing service's config: each image of the dispatcher's job definition runs
        its entry point's command, the jobs' state changes go to the rules' queues, and the hosts get
        the local API's token (the job's definition names a secret that exists on AWS only)."""
        from reelsight.local.processing_service import ServiceConfig

        work_dir = self.dir / "processing"
        shutil.rmtree(work_dir, ignore_errors=True)  # a new stack: an older one's jobs are gone with its moto
        return ServiceConfig(
            work_dir=str(work_dir),
            images=processing_images(plan),
            aws_env={**FAKE_CREDENTIALS, **addresses.aws_env},
            host_env={envvars.API_TOKEN: self.api_token} if addresses.api_url else {},
            rules=rule_targets(plan),
            cwd=str(Path.cwd()),
        ).to_json()

    def _client_env(self, addresses: LocalAddresses) -> dict[str, str]:
        """What ``reelsight local env`` exports: every AWS tool pointed at this stack."""
        from reelsight.local.client_env import client_environment, write_sdk_config

        return client_environment(
            moto_url=addresses.moto_url,
            endpoint_url=addresses.endpoint_url,
            control_plane_url=addresses.control_plane_url,
            sdk_config=write_sdk_config(self.dir / "sagemaker-config.json"),
        )

    def build_lambda_runner(self, fn: FunctionPlan, addresses: LocalAddresses) -> ManagedProcess:
        """The event-source runner of one Lambda function (it reads the plan from plan.json)."""
        return ManagedProcess(
            f"lambda-{fn.logical_id}",
            self._python(
                "-m", "reelsight.local.lambda_runner", "--plan", str(self._plan_path), "--function", fn.name
            ),
            {
                **self.base_env,
                **addresses.lambda_aws_env,
                **self._local_function_env(fn.environment, addresses.api_url),
                "AWS_LAMBDA_FUNCTION_NAME": fn.name,
            },
            self.logs / f"lambda-{fn.logical_id}.log",
        )

    def build_api(self, names: dict[str, str | None], addresses: LocalAddresses) -> ManagedProcess:
        """``reelsight api`` on the stack's table and buckets, with the stack's API token."""
        if addresses.api_port is None:
            raise ValueError("build_api needs an API port")
        env = {**self.base_env, **addresses.lambda_aws_env, envvars.API_TOKEN: self.api_token}
        for key, env_name in (
            ("jobs_table", envvars.JOBS_TABLE),
            ("input_bucket", envvars.INPUT_BUCKET),
            ("results_bucket", envvars.RESULTS_BUCKET),
        ):
            if names.get(key):
                env[env_name] = str(names[key])
        return ManagedProcess(
            "api",
            self._python("-m", "reelsight", "api", "--host", "127.0.0.1", "--port", str(addresses.api_port)),
            env,
            self.logs / "api.log",
            port=addresses.api_port,
        )

    def run_defaults(self) -> dict[str, str]:
        """The local stack's deployment run defaults: the worker and the dispatcher get the same ones."""
        env = {envvars.MODEL: self.options.model, envvars.FPS: self.options.fps}
        if self.weights:
            env[envvars.WEIGHTS] = self.weights
        for name, value in ((envvars.MAX_FRAMES, self.options.max_frames), (envvars.SIZE, self.options.size)):
            if value:
                env[name] = value
        if self.options.size and self.options.resize:
            env[envvars.RESIZE] = self.options.resize
        return env

    def _local_function_env(self, environment: dict[str, str], api_url: str | None) -> dict[str, str]:
        """The function's template environment with what points at AWS-only resources made local.

        A function that carries the deployment's run defaults (the dispatcher) gets the local ones,
        which the worker runs with, so its job records state what the worker runs; the Processing jobs
        it starts report to the local API, if one runs."""
        env = dict(environment)
        if envvars.MODEL in env:
            env.update(self.run_defaults())
        env.pop(envvars.API_URL, None)  # the deployed API's URL means nothing locally
        if envvars.PROCESSING_JOB_DEFINITION in env:
            env[envvars.PROCESSING_JOB_DEFINITION] = _with_local_api(
                env[envvars.PROCESSING_JOB_DEFINITION], api_url
            )
        return env

    def watch(self) -> None:
        """Restart processes that died, with exponential backoff, until stopped."""
        while not self.stop_event.wait(0.5):
            changed = False
            for proc in self.processes.values():
                if proc.alive():
                    if proc.backoff > 1 and time.monotonic() - proc.started_at > 30:
                        proc.backoff = 1.0  # it stayed up: forget earlier crashes
                    continue
                if not proc.restart:
                    log.error(
                        "%s exited (code %s) and cannot be restarted",
                        proc.name,
                        proc.proc and proc.proc.returncode,
                    )
                    self._save("failed", error=f"{proc.name} exited")
                    self.stop_event.set()
                    break
                now = time.monotonic()
                if proc.next_start == 0.0:
                    proc.next_start = now + proc.backoff
                    log.warning(
                        "%s exited (code %s); restarting in %.0fs",
                        proc.name,
                        proc.proc and proc.proc.returncode,
                        proc.backoff,
                    )
                    proc.backoff = min(proc.backoff * 2, 30.0)
                elif now >= proc.next_start:
                    proc.next_start = 0.0
                    proc.restarts += 1
                    proc.start()
                    log.info("restarted %s (pid %s, restart %d)", proc.name, proc.pid, proc.restarts)
                    changed = True
            if changed:
                self._save(self.state.get("status", "ready"))

    def shutdown(self) -> None:
        status = self.state.get("status")
        self._save("stopping")
        # Everything but moto stops at once (they may still be talking to it), then moto.
        for proc in self.processes.values():
            if proc.name != "moto":
                proc.terminate()
        for proc in sorted(self.processes.values(), key=lambda p: p.name == "moto"):
            began = time.monotonic()
            proc.stop()
            log.info("stopped %s in %.1fs", proc.name, time.monotonic() - began)
        terminate_marked(self.marker, grace=5)
        self._save("stopped" if status != "failed" else "failed", stopped_at=time.time())

    def run(self) -> int:
        signal.signal(signal.SIGTERM, lambda *_: self.stop_event.set())
        signal.signal(signal.SIGINT, lambda *_: self.stop_event.set())
        code = 0
        try:
            self.start()
            if not self.stop_event.is_set():
                self.watch()
        except StartInterrupted:
            log.info("stopped while starting")
        except Exception as exc:
            log.exception("local stack failed")
            self._save("failed", error=str(exc))
            code = 1
        finally:
            self.shutdown()
        return code


def _api_available() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("reelsight.cli.api") is not None
    except ModuleNotFoundError:
        return False


def stop_stack(directory: Path, timeout: float = 30.0) -> bool:
    """Stop the stack recorded in ``directory``; True when something was running."""
    state = read_state(directory)
    if not state:
        return False
    pid = int(state.get("supervisor_pid") or 0)
    was_running = pid_alive(pid)
    if was_running:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    for info in (state.get("processes") or {}).values():
        if info.get("pid") and pid_alive(info["pid"]):
            was_running = True
            kill_group(int(info["pid"]), signal.SIGKILL)
    if state.get("marker"):
        was_running = terminate_marked(state["marker"], grace=5) > 0 or was_running
    if state.get("status") not in ("stopped", "failed"):
        state["status"] = "stopped"
        write_state(directory, state)
    return was_running
