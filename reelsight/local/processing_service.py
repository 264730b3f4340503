"""A local SageMaker Processing service: the control plane's Processing table and the job runs.

It answers ``CreateProcessingJob``, ``DescribeProcessingJob``, ``StopProcessingJob`` and
``ListProcessingJobs`` in SageMaker's shapes, and runs each job as SageMaker would: per host
``algo-1 .. algo-N`` a folder standing for ``/opt/ml`` (``REELSIGHT_OPT_ML_ROOT``) with
``config/resourceconfig.json`` and ``config/processingjobconfig.json``, the inputs downloaded from S3
(:mod:`reelsight.local.processing_inputs`), the image's entry point as a process, and the outputs
uploaded at the end (``EndOfJob``) or while it runs (``Continuous``). Every status change is sent
as the EventBridge event "SageMaker Processing Job State Change" to the queues that the templates'
rules target. Each job's record is a file in the work directory, so a restarted service still
describes it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reelsight import envvars
from reelsight.contract.processing import CONTAINER_ROOT, container_path
from reelsight.local.control_plane import ARN_PREFIX, ApiError, Operation
from reelsight.local.processing_inputs import (
    InputError,
    InputObject,
    OutputUploader,
    download,
    host_path,
    host_share,
    input_objects,
)
from reelsight.local.state import kill_group
from reelsight.local.template import ACCOUNT, REGION

log = logging.getLogger("reelsight.local.processing")

DETAIL_TYPE = "SageMaker Processing Job State Change"
TERMINAL = frozenset({"Completed", "Failed", "Stopped"})
EXIT_MESSAGE_BYTES = 1024
GROUP_NAME = "homogeneousCluster"
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
# The request's fields that DescribeProcessingJob echoes (Tags it does not).
ECHOED = (
    "ProcessingInputs",
    "ProcessingOutputConfig",
    "ProcessingResources",
    "StoppingCondition",
    "AppSpecification",
    "Environment",
    "NetworkConfig",
    "RoleArn",
    "ExperimentConfig",
)
RESTARTED = "the local Processing service restarted"
PIDS_FILE = "hosts.pids"
SORT_KEYS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "Name": lambda r: r["ProcessingJobName"],
    "CreationTime": lambda r: r["CreationTime"],
    "Status": lambda r: r["ProcessingJobStatus"],
}


@dataclass
class ServiceConfig:
    """What the service needs from the stack (the supervisor writes it into the control plane's config)."""

    work_dir: str
    # ImageUri -> the command its entry point runs (the arguments are appended).
    images: dict[str, list[str]] = field(default_factory=dict)
    # The AWS endpoint and credentials, for the service's own clients and for every host.
    aws_env: dict[str, str] = field(default_factory=dict)
    # More variables every host gets (the local API's token, say); the job's Environment wins.
    host_env: dict[str, str] = field(default_factory=dict)
    # [{"pattern": EventPattern, "queue_urls": [...]}]: the templates' rules with SQS targets.
    rules: list[dict[str, Any]] = field(default_factory=list)
    cwd: str | None = None  # where relative commands (.venv-mxnet/bin/python) are found
    stop_grace_seconds: float = 10.0
    poll_seconds: float = 0.2
    continuous_seconds: float = 1.0

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ServiceConfig:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def run_dir(config: ServiceConfig, name: str) -> Path:
    """Where a job's hosts have their folders (``algo-1/`` standing for its /opt/ml, ...)."""
    return Path(config.work_dir) / "runs" / name


def _kill_orphans(job_dir: Path) -> None:
    """The hosts of a job whose service was cut off: they would run on with no one to watch them."""
    try:
        pids = json.loads((job_dir / PIDS_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return
    for pid in pids:
        kill_group(int(pid), signal.SIGKILL)


def job_arn(name: str) -> str:
    return f"{ARN_PREFIX}:processing-job/{name.lower()}"


# --- events ------------------------------------------------------------------------------------------


def _value_matches(expected: list[Any], value: Any) -> bool:
    for item in expected:
        if isinstance(item, dict) and "prefix" in item:
            if isinstance(value, str) and value.startswith(str(item["prefix"])):
                return True
        elif item == value:
            return True
    return False


def pattern_matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """EventBridge's matching for what rules here use: value lists, ``prefix`` and nested objects."""
    for key, expected in pattern.items():
        value = event.get(key)
        if isinstance(expected, dict):
            if not isinstance(value, dict) or not pattern_matches(expected, value):
                return False
        elif isinstance(expected, list) and not _value_matches(expected, value):
            return False
    return True


def _millis(value: Any) -> Any:
    return int(value * 1000) if isinstance(value, int | float) else value


def state_change_event(record: Mapping[str, Any]) -> dict[str, Any]:
    """The event SageMaker sends: the job's description as detail, times in epoch milliseconds."""
    detail = {k: _millis(v) if k.endswith("Time") else v for k, v in record.items()}
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": "aws.sagemaker",
        "account": ACCOUNT,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": REGION,
        "resources": [record["ProcessingJobArn"]],
        "detail": detail,
    }


# --- the job records ---------------------------------------------------------------------------------


class JobStore:
    """One JSON file per job under ``<work dir>/jobs/``."""

    def __init__(self, work_dir: Path) -> None:
        self.dir = work_dir / "jobs"
        self.dir.mkdir(parents=True, exist_ok=True)

    def save(self, record: Mapping[str, Any]) -> None:
        path = self.dir / f"{record['ProcessingJobName']}.json"
        temp = path.with_suffix(".tmp")
        temp.write_text(json.dumps(record, indent=2))
        temp.replace(path)

    def load(self) -> dict[str, dict[str, Any]]:
        records = {}
        for path in sorted(self.dir.glob("*.json")):
            try:
                record = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                log.warning("unreadable job record %s: %s", path, exc)
                continue
            records[str(record["ProcessingJobName"])] = record
        return records


# --- validation --------------------------------------------------------------------------------------


def _null(member: str) -> ApiError:
    return ApiError(
        "ValidationException",
        f"1 validation error detected: Value null at '{member}' failed to satisfy constraint: "
        "Member must not be null",
    )


def _check_paths(request: Mapping[str, Any]) -> None:
    paths = [(item.get("S3Input") or {}).get("LocalPath") for item in request.get("ProcessingInputs") or []]
    outputs = (request.get("ProcessingOutputConfig") or {}).get("Outputs") or []
    paths += [(item.get("S3Output") or {}).get("LocalPath") for item in outputs]
    for path in paths:
        if not isinstance(path, str) or not path.startswith("/opt/ml/processing/"):
            raise ApiError("ValidationException", f"LocalPath {path!r} must begin with /opt/ml/processing/")


def validate_create(request: Mapping[str, Any]) -> None:
    """SageMaker's checks of a CreateProcessingJob request that matter here."""
    name = request.get("ProcessingJobName")
    if not name:
        raise _null("processingJobName")
    if not NAME_PATTERN.match(str(name)):
        raise ApiError(
            "ValidationException",
            f"1 validation error detected: Value '{name}' at 'processingJobName' failed to satisfy "
            f"constraint: Member must satisfy regular expression pattern: {NAME_PATTERN.pattern}",
        )
    cluster = (request.get("ProcessingResources") or {}).get("ClusterConfig")
    if not isinstance(cluster, dict):
        raise _null("processingResources")
    for member in ("InstanceCount", "InstanceType", "VolumeSizeInGB"):
        if cluster.get(member) in (None, ""):
            raise _null(f"processingResources.clusterConfig.{member[0].lower()}{member[1:]}")
    if not (request.get("AppSpecification") or {}).get("ImageUri"):
        raise _null("appSpecification.imageUri")
    if not request.get("RoleArn"):
        raise _null("roleArn")
    _check_paths(request)


# --- the operations ----------------------------------------------------------------------------------


class ProcessingService:
    """The Processing table of the control plane, and the runs of its jobs."""

    def __init__(self, config: ServiceConfig, *, s3: Any = None, sqs: Any = None) -> None:
        self.config = config
        self.work_dir = Path(config.work_dir)
        self.store = JobStore(self.work_dir)
        self._lock = threading.RLock()
        self._s3 = s3
        self._sqs = sqs
        self.runs: dict[str, JobRun] = {}
        self.records = self.store.load()
        for record in self.records.values():
            if record["ProcessingJobStatus"] not in TERMINAL:
                _kill_orphans(run_dir(config, record["ProcessingJobName"]))
                self.update(record["ProcessingJobName"], "Failed", FailureReason=RESTARTED)

    # --- clients ---

    def _client(self, service: str) -> Any:
        import boto3

        env = self.config.aws_env
        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=env.get(f"AWS_ENDPOINT_URL_{service.upper()}") or env.get("AWS_ENDPOINT_URL"),
            region_name=env.get("AWS_DEFAULT_REGION") or REGION,
            aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
            aws_session_token=env.get("AWS_SESSION_TOKEN"),
        )

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = self._client("s3")
        return self._s3

    @property
    def sqs(self) -> Any:
        if self._sqs is None:
            self._sqs = self._client("sqs")
        return self._sqs

    def operations(self) -> dict[str, Operation]:
        return {
            "CreateProcessingJob": self.create,
            "DescribeProcessingJob": self.describe,
            "StopProcessingJob": self.stop,
            "ListProcessingJobs": self.list_jobs,
        }

    # --- state ---

    def update(self, name: str, status: str | None, **fields: Any) -> dict[str, Any]:
        """Move a job to ``status`` (None: keep it), saved, and announced when the status changed."""
        with self._lock:
            record = self.records[name]
            status = status or str(record["ProcessingJobStatus"])
            changed = record["ProcessingJobStatus"] != status
            record.update({k: v for k, v in fields.items() if v is not None})
            record["ProcessingJobStatus"] = status
            record["LastModifiedTime"] = time.time()
            if status in TERMINAL:
                record.setdefault("ProcessingEndTime", record["LastModifiedTime"])
            self.store.save(record)
            snapshot = json.loads(json.dumps(record))
        if changed:
            self.announce(snapshot)
        return snapshot

    def announce(self, record: Mapping[str, Any]) -> None:
        event = state_change_event(record)
        for rule in self.config.rules:
            if not pattern_matches(rule.get("pattern") or {}, event):
                continue
            for url in rule.get("queue_urls") or []:
                try:
                    self.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event))
                except Exception as exc:  # an event lost must show in the log, never stop the job
                    log.error(
                        "could not send %s's state change to %s: %s", record["ProcessingJobName"], url, exc
                    )

    def _record(self, name: Any) -> dict[str, Any]:
        record = self.records.get(str(name))
        if record is None:
            raise ApiError("ValidationException", f"Could not find requested job with name {name}")
        return record

    # --- operations ---

    def create(self, request: dict[str, Any]) -> dict[str, Any]:
        validate_create(request)
        name = str(request["ProcessingJobName"])
        arn = job_arn(name)
        now = time.time()
        with self._lock:
            if name in self.records:
                raise ApiError(
                    "ValidationException",
                    "Job name must be unique within an AWS account and region, and a job with this "
                    f"name already exists ({arn})",
                )
            record = {key: request[key] for key in ECHOED if key in request}
            record.update(
                ProcessingJobName=name,
                ProcessingJobArn=arn,
                ProcessingJobStatus="InProgress",
                CreationTime=now,
                LastModifiedTime=now,
            )
            self.records[name] = record
            self.store.save(record)
            run = JobRun(self, json.loads(json.dumps(record)))
            self.runs[name] = run
        self.announce(record)
        run.start()
        return {"ProcessingJobArn": arn}

    def describe(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return json.loads(json.dumps(self._record(request.get("ProcessingJobName"))))

    def stop(self, request: dict[str, Any]) -> dict[str, Any]:
        name = str(request.get("ProcessingJobName"))
        with self._lock:
            status = self._record(name)["ProcessingJobStatus"]
            if status in TERMINAL:
                raise ApiError(
                    "ValidationException", f"The job {name} has already reached the terminal state {status}."
                )
            run = self.runs.get(name)
            if status == "InProgress":
                self.update(name, "Stopping")
        if run is not None:
            run.request_stop()
        return {}

    def list_jobs(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            records = [r for r in self.records.values() if _listed(r, request)]
            records = [json.loads(json.dumps(r)) for r in records]
        sort_by = str(request.get("SortBy") or "CreationTime")
        key = SORT_KEYS.get(sort_by)
        if key is None:
            raise ApiError("ValidationException", f"SortBy {sort_by!r} is not Name, CreationTime or Status")
        records.sort(key=key, reverse=(request.get("SortOrder") or "Descending") == "Descending")
        start = _token_offset(request.get("NextToken"))
        size = int(request.get("MaxResults") or 10)
        if not 1 <= size <= 100:
            raise ApiError("ValidationException", f"MaxResults {size} is not between 1 and 100")
        page = records[start : start + size]
        answer: dict[str, Any] = {"ProcessingJobSummaries": [_summary(r) for r in page]}
        if start + size < len(records):
            answer["NextToken"] = str(start + size)
        return answer


def _token_offset(token: Any) -> int:
    if token in (None, ""):
        return 0
    if not str(token).isdigit():
        raise ApiError("ValidationException", "Invalid pagination token")
    return int(str(token))


def _listed(record: Mapping[str, Any], request: Mapping[str, Any]) -> bool:
    contains = request.get("NameContains")
    if contains and str(contains).lower() not in record["ProcessingJobName"].lower():
        return False
    if request.get("StatusEquals") and record["ProcessingJobStatus"] != request["StatusEquals"]:
        return False
    checks = (
        ("CreationTimeAfter", "CreationTime", 1),
        ("CreationTimeBefore", "CreationTime", -1),
        ("LastModifiedTimeAfter", "LastModifiedTime", 1),
        ("LastModifiedTimeBefore", "LastModifiedTime", -1),
    )
    for param, attr, sign in checks:
        bound = request.get(param)
        if bound is not None and (float(record[attr]) - float(bound)) * sign <= 0:
            return False
    return True


def _summary(record: Mapping[str, Any]) -> dict[str, Any]:
    keys = (
        "ProcessingJobName",
        "ProcessingJobArn",
        "CreationTime",
        "ProcessingEndTime",
        "LastModifiedTime",
        "ProcessingJobStatus",
        "FailureReason",
        "ExitMessage",
    )
    return {k: record[k] for k in keys if k in record}


# --- a job's run -------------------------------------------------------------------------------------


@dataclass
class Host:
    name: str
    root: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def exit_code(self) -> int | None:
        return None if self.proc is None else self.proc.poll()


@dataclass
class Outcome:
    status: str
    failure_reason: str | None = None
    exit_message: str | None = None


class JobRun:
    """One job in a background thread: prepare the hosts, run them, upload, end in a final status."""

    def __init__(self, service: ProcessingService, record: dict[str, Any]) -> None:
        self.service = service
        self.record = record
        self.name = str(record["ProcessingJobName"])
        self.config = service.config
        self.stop_requested = threading.Event()
        cluster = record["ProcessingResources"]["ClusterConfig"]
        self.instance_type = str(cluster["InstanceType"])
        names = [f"algo-{i + 1}" for i in range(int(cluster["InstanceCount"]))]
        self.job_dir = run_dir(self.config, self.name)
        self.hosts = [Host(name, self.job_dir / name) for name in names]
        self.uploaders: dict[str, list[OutputUploader]] = {}
        self._thread = threading.Thread(target=self._run, name=f"processing-{self.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def request_stop(self) -> None:
        self.stop_requested.set()

    def _run(self) -> None:
        try:
            outcome = self._execute()
        except Exception as exc:  # whatever went wrong ends the job with its reason, never silently
            log.exception("processing job %s failed in the local service", self.name)
            outcome = Outcome("Failed", f"InternalServerError: {exc}")
        self._stop_hosts()
        for host in self.hosts:
            self._log_tail(host)
        self.service.update(
            self.name,
            outcome.status,
            FailureReason=outcome.failure_reason,
            ExitMessage=outcome.exit_message,
        )
        log.info("processing job %s: %s %s", self.name, outcome.status, outcome.failure_reason or "")

    def _log_tail(self, host: Host) -> None:
        with contextlib.suppress(OSError):
            tail = (host.root / "host.log").read_bytes()[-4000:].decode("utf-8", errors="replace")
            log.debug("processing job %s, %s's log ends:\n%s", self.name, host.name, tail)

    def _execute(self) -> Outcome:
        try:
            command = self._command()
            shares = self._input_shares()
        except InputError as exc:
            return Outcome("Failed", f"ClientError: {exc}")
        if self.stop_requested.is_set():
            return Outcome("Stopped")
        self.service.update(self.name, None, ProcessingStartTime=time.time())
        for index, host in enumerate(self.hosts):
            self._prepare(host, shares[index])
        for host in self.hosts:
            self._spawn(host, command)
        pids = [host.proc.pid for host in self.hosts if host.proc is not None]
        (self.job_dir / PIDS_FILE).write_text(json.dumps(pids))
        outcome = self._watch()
        self._upload_all()
        return outcome

    # --- preparing ---

    def _command(self) -> list[str]:
        app = self.record["AppSpecification"]
        entry = app.get("ContainerEntrypoint") or self.config.images.get(str(app["ImageUri"]))
        if not entry:
            raise InputError(f"the image {app['ImageUri']} has no command in the local Processing service")
        return [str(part) for part in [*entry, *(app.get("ContainerArguments") or [])]]

    def _input_shares(self) -> list[list[tuple[str, list[InputObject]]]]:
        """Per host: (LocalPath, objects) of each input. Resolved before any host runs."""
        shares: list[list[tuple[str, list[InputObject]]]] = [[] for _ in self.hosts]
        for item in self.record.get("ProcessingInputs") or []:
            s3_input = item.get("S3Input")
            if not s3_input:
                raise InputError(f"input {item.get('InputName')!r}: only S3Input is supported locally")
            objects = input_objects(self.service.s3, s3_input)
            for index, share in enumerate(shares):
                mine = host_share(objects, s3_input.get("S3DataDistributionType"), index, len(self.hosts))
                share.append((str(s3_input["LocalPath"]), mine))
        return shares

    def _prepare(self, host: Host, inputs: list[tuple[str, list[InputObject]]]) -> None:
        config_dir = host_path(host.root, f"{CONTAINER_ROOT}/config")
        config_dir.mkdir(parents=True, exist_ok=True)
        (config_dir / "resourceconfig.json").write_text(json.dumps(self._resource_config(host)))
        job_config = {**self.record, "ProcessingJobStatus": "InProgress"}
        (config_dir / "processingjobconfig.json").write_text(json.dumps(job_config, indent=2))
        host_path(host.root, f"{CONTAINER_ROOT}/output").mkdir(parents=True, exist_ok=True)
        for local_path, objects in inputs:
            download(self.service.s3, objects, host_path(host.root, local_path))
        output_config = self.record.get("ProcessingOutputConfig") or {}
        uploaders = []
        for item in output_config.get("Outputs") or []:
            s3_output = item.get("S3Output") or {}
            local = host_path(host.root, str(s3_output["LocalPath"]))
            local.mkdir(parents=True, exist_ok=True)
            # moto accepts SSE-KMS with any key id, so the job's key is passed on as on AWS.
            uploaders.append(
                OutputUploader(self.service.s3, local, str(s3_output["S3Uri"]), output_config.get("KmsKeyId"))
            )
        self.uploaders[host.name] = uploaders

    def _resource_config(self, host: Host) -> dict[str, Any]:
        names = [h.name for h in self.hosts]
        return {
            "current_host": host.name,
            "current_instance_type": self.instance_type,
            "current_group_name": GROUP_NAME,
            "hosts": names,
            "instance_groups": [
                {"instance_group_name": GROUP_NAME, "instance_type": self.instance_type, "hosts": names}
            ],
            "network_interface_name": "eth0",
        }

    def _environment(self, host: Host) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "REELSIGHT_"))}
        if envvars.LOCAL_STACK_MARKER in os.environ:  # `local down` finds and stops the hosts by it
            env[envvars.LOCAL_STACK_MARKER] = os.environ[envvars.LOCAL_STACK_MARKER]
        env.update(self.config.aws_env)
        env.update(self._contract_paths(host))
        env.update(self.config.host_env)
        env.update({str(k): str(v) for k, v in (self.record.get("Environment") or {}).items()})
        env[envvars.OPT_ML_ROOT] = str(host.root)
        return env

    def _contract_paths(self, host: Host) -> dict[str, str]:
        """The worker's explicit path variables, for an entry point that does not map /opt/ml itself;
        the input and output ones only when there is exactly one of them (no doubt which is meant)."""
        root = {envvars.OPT_ML_ROOT: str(host.root)}
        paths = {
            envvars.RESOURCE_CONFIG: container_path(f"{CONTAINER_ROOT}/config/resourceconfig.json", root),
            envvars.JOB_CONFIG: container_path(f"{CONTAINER_ROOT}/config/processingjobconfig.json", root),
            envvars.OUTPUT_MESSAGE: container_path(f"{CONTAINER_ROOT}/output/message", root),
        }
        inputs = self.record.get("ProcessingInputs") or []
        outputs = (self.record.get("ProcessingOutputConfig") or {}).get("Outputs") or []
        if len(inputs) == 1:
            paths[envvars.PROCESSING_INPUT] = container_path(inputs[0]["S3Input"]["LocalPath"], root)
        if len(outputs) == 1:
            paths[envvars.PROCESSING_OUTPUT] = container_path(outputs[0]["S3Output"]["LocalPath"], root)
        return paths

    def _spawn(self, host: Host, command: list[str]) -> None:
        env = self._environment(host)
        argv = [container_path(part, env) for part in command]
        log_path = host.root / "host.log"
        with open(log_path, "ab") as logf:
            host.proc = subprocess.Popen(
                argv,
                env=env,
                cwd=self.config.cwd or None,
                stdout=logf,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: a stop takes its children too
            )
        log.info(
            "processing job %s: %s started (pid %s), log %s", self.name, host.name, host.proc.pid, log_path
        )

    # --- running ---

    def _deadline(self) -> float:
        seconds = (self.record.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
        return time.monotonic() + float(seconds) if seconds else float("inf")

    def _watch(self) -> Outcome:
        deadline = self._deadline()
        next_sync = time.monotonic() + self.config.continuous_seconds
        while True:
            outcome = self._check(deadline)
            if outcome is not None:
                return outcome
            if time.monotonic() >= next_sync:
                self._upload_continuous()
                next_sync = time.monotonic() + self.config.continuous_seconds
            time.sleep(self.config.poll_seconds)

    def _check(self, deadline: float) -> Outcome | None:
        if self.stop_requested.is_set():
            return Outcome("Stopped")
        if time.monotonic() >= deadline:
            # SageMaker ends a Processing job that runs past MaxRuntimeInSeconds as Stopped, with no
            # FailureReason (reported by users who mistook such a job for one that completed); it
            # passes through Stopping as a StopProcessingJob does.
            log.warning("processing job %s ran past its MaxRuntimeInSeconds: stopping it", self.name)
            self.service.update(self.name, "Stopping")
            return Outcome("Stopped")
        codes = [host.exit_code for host in self.hosts]
        for host, code in zip(self.hosts, codes, strict=True):
            if code is not None and code != 0:
                return Outcome(
                    "Failed",
                    f"AlgorithmError: {host.name} exited with code {code}; see {host.root / 'host.log'}",
                    self._exit_message(host),
                )
        return Outcome("Completed") if all(code == 0 for code in codes) else None

    def _exit_message(self, host: Host) -> str | None:
        path = host_path(host.root, f"{CONTAINER_ROOT}/output/message")
        try:
            data = path.read_bytes()[:EXIT_MESSAGE_BYTES]
        except OSError:
            return None
        return data.decode("utf-8", errors="replace") or None

    def _stop_hosts(self) -> None:
        """SIGTERM to every host still running, SIGKILL after the grace period, as SageMaker stops them."""
        running = [h for h in self.hosts if h.proc is not None and h.proc.poll() is None]
        for host in running:
            assert host.proc is not None
            kill_group(host.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.config.stop_grace_seconds
        for host in running:
            assert host.proc is not None
            with contextlib.suppress(subprocess.TimeoutExpired):
                host.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        for host in self.hosts:
            if host.proc is not None:
                kill_group(host.proc.pid, signal.SIGKILL)  # whatever the group left behind
                with contextlib.suppress(subprocess.TimeoutExpired):
                    host.proc.wait(timeout=5)

    # --- outputs ---

    def _outputs(self) -> list[tuple[str, OutputUploader]]:
        modes = [
            str((item.get("S3Output") or {}).get("S3UploadMode") or "EndOfJob")
            for item in (self.record.get("ProcessingOutputConfig") or {}).get("Outputs") or []
        ]
        pairs = []
        for uploaders in self.uploaders.values():
            pairs += list(zip(modes, uploaders, strict=True))
        return pairs

    def _upload_continuous(self) -> None:
        for mode, uploader in self._outputs():
            if mode == "Continuous":
                self._sync(uploader)

    def _upload_all(self) -> None:
        """The final pass: every output, also of a host that failed, as SageMaker uploads them."""
        self._stop_hosts()
        for _, uploader in self._outputs():
            self._sync(uploader)

    def _sync(self, uploader: OutputUploader) -> None:
        written = uploader.sync()
        if written:
            log.debug("processing job %s uploaded %s", self.name, written)
