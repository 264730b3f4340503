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
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reelsight import envvars
from reelsight.local.state import kill_group, pid_alive, read_state, terminate_marked, write_state
from reelsight.local.template import StackPlan, build_plan, template_paths
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
    weights: str = "auto"  # auto = pretrained when cached, else random
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


def resolve_weights(options: LocalOptions) -> tuple[str, bool]:
    """(weights, random) for the worker: ``auto`` means pretrained when cached, else random."""
    if options.weights != "auto":
        return options.weights, options.weights == "random"
    if pretrained_cached(options.model):
        return "pretrained", False
    return "random", True


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
        "upload_prefix": dispatch_env.get(envvars.UPLOAD_PREFIX) or "incoming/",
    }


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

        moto_port = free_port()
        moto_url = f"http://127.0.0.1:{moto_port}"
        moto = self._spawn(
            ManagedProcess(
                "moto",
                self._python("-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)),
                self.base_env,
                self.logs / "moto.log",
                health_url=f"{moto_url}/moto-api/",
                restart=False,  # its data lives in memory: a restart would lose the stack
                port=moto_port,
            )
        )
        self._wait_healthy(moto, 30)
        aws_env = {"AWS_ENDPOINT_URL": moto_url}
        os.environ.update({**FAKE_CREDENTIALS, **aws_env})

        plan = build_plan(paths, sqs_base_url=moto_url)
        if plan.endpoint is None:
            raise RuntimeError("the templates declare no AWS::SageMaker::Endpoint")
        from reelsight.local.provision import provision

        provision(plan)
        (self.dir / "plan.json").write_text(json.dumps(plan.to_json(), indent=2))

        names = stack_names(plan)
        api_enabled = self.options.api and _api_available()
        api_port = free_port() if api_enabled else None
        api_url = f"http://127.0.0.1:{api_port}" if api_port else None
        weights, random_weights = resolve_weights(self.options)
        worker_port = free_port()
        endpoint_port = free_port()
        worker_url = f"http://127.0.0.1:{worker_port}"
        endpoint_url = f"http://127.0.0.1:{endpoint_port}"
        concurrency = self.options.worker_concurrency or plan.endpoint.max_concurrency
        model_dir = self.dir / "model"
        model_dir.mkdir(exist_ok=True)
        worker_env = {
            **self.base_env,
            **aws_env,
            **plan.endpoint.container_environment,
            envvars.MODEL: self.options.model,
            envvars.WEIGHTS: weights,
            envvars.FPS: self.options.fps,
            envvars.MODEL_DIR: str(model_dir),
            envvars.PORT: str(worker_port),
            envvars.MAX_CONCURRENCY: str(concurrency),
            envvars.DEVICE: "auto",
            **self.options.extra_worker_env,
        }
        for name, value in ((envvars.MAX_FRAMES, self.options.max_frames), (envvars.SIZE, self.options.size)):
            if value:
                worker_env[name] = value
        if self.options.size and self.options.resize:
            worker_env[envvars.RESIZE] = self.options.resize
        if api_url:  # where progress reports go
            worker_env[envvars.API_URL] = api_url
            worker_env[envvars.API_TOKEN] = self.api_token
        worker = self._spawn(
            ManagedProcess(
                "worker",
                self._python("-m", "reelsight", "serve", "--host", "127.0.0.1", "--port", str(worker_port)),
                worker_env,
                self.logs / "worker.log",
                health_url=f"{worker_url}/ping",
                port=worker_port,
            )
        )

        endpoint_config = {
            "name": plan.endpoint.name,
            "output_path": plan.endpoint.output_path,
            "failure_path": plan.endpoint.failure_path,
            "worker_url": worker_url,
            "success_topic": plan.endpoint.success_topic,
            "error_topic": plan.endpoint.error_topic,
            "max_concurrency": concurrency * plan.endpoint.instance_count,
            "include_response_in": plan.endpoint.include_response_in,
        }
        config_path = self.dir / "endpoint.json"
        config_path.write_text(json.dumps(endpoint_config, indent=2))
        endpoint = self._spawn(
            ManagedProcess(
                "endpoint",
                self._python(
                    "-m",
                    "reelsight.local.async_endpoint",
                    "--config",
                    str(config_path),
                    "--port",
                    str(endpoint_port),
                ),
                {**self.base_env, **aws_env},
                self.logs / "endpoint.log",
                health_url=f"{endpoint_url}/ping",
                port=endpoint_port,
            )
        )

        lambda_env = {**self.base_env, **aws_env, "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": endpoint_url}
        with_sources = {s.function for s in plan.event_sources}
        for fn in plan.functions:
            if fn.name not in with_sources:
                continue
            self._spawn(
                ManagedProcess(
                    f"lambda-{fn.logical_id}",
                    self._python(
                        "-m",
                        "reelsight.local.lambda_runner",
                        "--plan",
                        str(self.dir / "plan.json"),
                        "--function",
                        fn.name,
                    ),
                    {
                        **lambda_env,
                        **self._local_function_env(fn.environment, api_url),
                        "AWS_LAMBDA_FUNCTION_NAME": fn.name,
                    },
                    self.logs / f"lambda-{fn.logical_id}.log",
                )
            )

        if api_port:
            api_env = {**lambda_env, envvars.API_TOKEN: self.api_token}
            for key, env_name in (
                ("jobs_table", envvars.JOBS_TABLE),
                ("input_bucket", envvars.INPUT_BUCKET),
                ("results_bucket", envvars.RESULTS_BUCKET),
            ):
                if names.get(key):
                    api_env[env_name] = str(names[key])
            self._spawn(
                ManagedProcess(
                    "api",
                    self._python("-m", "reelsight", "api", "--host", "127.0.0.1", "--port", str(api_port)),
                    api_env,
                    self.logs / "api.log",
                    port=api_port,
                )
            )

        self._save(
            "starting",
            moto_url=moto_url,
            endpoint_url=endpoint_url,
            worker_url=worker_url,
            api_url=api_url,
            api_token=self.api_token if api_url else None,
            endpoint_name=plan.endpoint.name,
            names=names,
            weights=weights,
            random_weights=random_weights,
            model=self.options.model,
            env={**FAKE_CREDENTIALS, **aws_env, "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": endpoint_url},
        )
        self._wait_healthy(endpoint, 30)
        self._wait_healthy(worker, self.options.startup_timeout)
        if self.stop_event.is_set():
            raise StartInterrupted()
        self._save("ready", ready_at=time.time())
        log.info("local stack ready (%s)", self.marker)

    @staticmethod
    def _local_function_env(environment: dict[str, str], api_url: str | None) -> dict[str, str]:
        """The function's template environment with what points at AWS-only resources made local."""
        env = dict(environment)
        if api_url:
            env[envvars.API_URL] = api_url
        else:
            env.pop(envvars.API_URL, None)
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
