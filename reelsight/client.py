"""The user-side SDK: upload a video, follow its job, fetch its results.

The same code talks to the local stack (names and endpoint URLs from the state file that
``reelsight local up`` writes) and to a deployed stack on AWS (names from the stacks'
CloudFormation outputs, or from ``REELSIGHT_*`` environment variables). The API itself is reached
through :class:`ApiEndpoint`: on AWS through ``reelsight api tunnel`` on ``localhost``, over TLS that
must match the API host's pinned certificate.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reelsight import envvars
from reelsight.contract.batch import (
    BatchRequest,
    JobPlan,
    PartError,
    PartView,
    error_key,
    failed_part_ids,
    part_views,
    plan_key,
    request_key,
    request_name,
    resume_refusal,
)
from reelsight.contract.jobs import JobRecord, JobsTable, JobStatus
from reelsight.contract.names import (
    UPLOAD_PREFIX,
    artifacts_prefix,
    job_prefix,
    parts_prefix,
    s3_uri,
    split_s3_uri,
)
from reelsight.contract.summary import ShortSummary
from reelsight.errors import ParamError, ReelsightError
from reelsight.tls import PinnedCertificate, get_json, pinned_from_env

UPLOADED = "UPLOADED"  # what wait() reports while the dispatcher has not recorded the job yet
# Stack outputs the CDK app declares for clients.
OUTPUT_KEYS = {
    "input_bucket": "InputBucketName",
    "results_bucket": "ResultsBucketName",
    "jobs_table": "JobsTableName",
    "results_topic": "ResultsTopicArn",
    "api_url": "ApiUrl",
    "api_certificate_parameter": "ApiCertificateParameter",
}


class StackNotFound(ReelsightError):
    exit_code = 5


class JobTimeout(ReelsightError):
    exit_code = 6


@dataclass
class StackTarget:
    """Where a stack's resources are and how to reach them."""

    kind: str  # "local" | "aws"
    input_bucket: str
    results_bucket: str
    jobs_table: str
    results_topic: str | None = None
    upload_prefix: str = UPLOAD_PREFIX
    api_url: str | None = None
    endpoints: dict[str, str] = field(default_factory=dict)  # boto3 service name -> URL (local)
    credentials: dict[str, str] = field(default_factory=dict)
    region: str | None = None
    profile: str | None = None
    random_weights: bool | None = None


@dataclass
class Submission:
    bucket: str
    key: str
    etag: str
    version_id: str | None
    size: int

    @property
    def source(self) -> str:
        return s3_uri(self.bucket, self.key)

    @property
    def expected_job_id(self) -> str | None:
        """The job id the dispatcher derives, when the client can know it: from the version id. For
        an unversioned bucket the id comes from the event's sequencer, which only S3 knows."""
        if self.version_id and self.version_id != "null":
            return self.job_ids()[0]
        return None

    def job_ids(self) -> list[str]:
        """The ids the dispatcher may derive for this object (from the version id, else the ETag,
        for events that carry neither a version id nor a sequencer)."""
        from reelsight.contract.jobids import job_id_for, object_version

        ids = []
        if self.version_id and self.version_id != "null":
            ids.append(job_id_for(self.bucket, self.key, object_version(self.version_id, None)))
        ids.append(job_id_for(self.bucket, self.key, object_version(None, self.etag)))
        return ids


def match_outputs(outputs: Mapping[str, str]) -> dict[str, str]:
    """Client-side names from stack outputs (``OUTPUT_KEYS``)."""
    return {role: outputs[key] for role, key in OUTPUT_KEYS.items() if outputs.get(key)}


def stack_outputs(session: Any, stack_prefix: str = "reelsight") -> dict[str, str]:
    """Every output of the deployed stacks whose names start with ``stack_prefix`` (any case)."""
    outputs: dict[str, str] = {}
    try:
        for page in session.client("cloudformation").get_paginator("describe_stacks").paginate():
            for stack in page.get("Stacks", []):
                if stack["StackName"].lower().startswith(stack_prefix.lower()):
                    for out in stack.get("Outputs", []):
                        outputs[out["OutputKey"]] = out["OutputValue"]
    except Exception as exc:
        raise StackNotFound(f"could not read the stacks' outputs from CloudFormation: {exc}") from None
    return outputs


@dataclass(frozen=True)
class ApiEndpoint:
    """The reelsight API as a client reaches it: its URL, and the certificate its TLS must match."""

    url: str
    pinned: PinnedCertificate | None = None

    def get(self, path: str, *, token: str | None = None, timeout: float = 5.0) -> Any:
        """GET ``path`` as JSON; a certificate that is not the pinned one raises ``TlsError``."""
        return get_json(f"{self.url.rstrip('/')}{path}", pinned=self.pinned, token=token, timeout=timeout)


def api_endpoint(environ: Mapping[str, str], *, url: str | None = None, session: Any = None) -> ApiEndpoint:
    """The API at ``url`` (else ``REELSIGHT_API_URL``); an https one pins ``REELSIGHT_API_CA_FILE``, else
    the certificate in ``REELSIGHT_API_CERT_PARAMETER``."""
    url = url or environ.get(envvars.API_URL, "").strip()
    if not url:
        raise ParamError(
            f"no API URL: set {envvars.API_URL} (for a deployed stack, the https://localhost URL that "
            "`reelsight api tunnel` prints)"
        )
    if not url.startswith(("https://", "http://")):
        raise ParamError(f"the API URL must start with https:// or http://, got {url!r}")
    pinned = pinned_from_env(environ, session) if url.startswith("https://") else None
    return ApiEndpoint(url, pinned)


def local_target(state_dir: str | Path | None = None) -> StackTarget | None:
    """The running local stack, from its state file; None when there is none."""
    from reelsight.local.state import pid_alive, read_state
    from reelsight.local.state import state_dir as default_dir

    state = read_state(default_dir(state_dir))
    if not state or state.get("status") != "ready" or not pid_alive(state.get("supervisor_pid")):
        return None
    names = state.get("names") or {}
    env = state.get("env") or {}
    endpoints = {
        "sagemaker-runtime": env.get("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", ""),
        # The control plane: the endpoint's description and the local Processing service.
        "sagemaker": state.get("control_plane_url") or env.get("AWS_ENDPOINT_URL_SAGEMAKER", ""),
    }
    for service in ("s3", "sqs", "sns", "dynamodb", "cloudformation"):
        endpoints[service] = state["moto_url"]
    credentials = {k: v for k, v in env.items() if k.startswith("AWS_") and "ENDPOINT" not in k}
    return StackTarget(
        kind="local",
        input_bucket=names["input_bucket"],
        results_bucket=names["results_bucket"],
        jobs_table=names["jobs_table"],
        results_topic=names.get("results_topic"),
        upload_prefix=names.get("upload_prefix") or UPLOAD_PREFIX,
        api_url=state.get("api_url"),
        endpoints=endpoints,
        credentials=credentials,
        region=credentials.get("AWS_DEFAULT_REGION"),
        random_weights=state.get("random_weights"),
    )


def aws_target(
    stack_prefix: str = "reelsight", region: str | None = None, profile: str | None = None
) -> StackTarget:
    """A deployed stack: names from ``REELSIGHT_*`` variables, else the stacks' CloudFormation outputs."""
    names = {
        "input_bucket": os.environ.get(envvars.INPUT_BUCKET, ""),
        "results_bucket": os.environ.get(envvars.RESULTS_BUCKET, ""),
        "jobs_table": os.environ.get(envvars.JOBS_TABLE, ""),
        "results_topic": os.environ.get(envvars.RESULTS_TOPIC_ARN, ""),
    }
    if not all(names[k] for k in ("input_bucket", "results_bucket", "jobs_table")):
        import boto3

        session = boto3.session.Session(profile_name=profile, region_name=region)
        outputs = stack_outputs(session, stack_prefix)
        for role, value in match_outputs(outputs).items():
            names[role] = names.get(role) or value
    missing = [k for k in ("input_bucket", "results_bucket", "jobs_table") if not names.get(k)]
    if missing:
        raise StackNotFound(
            f"no deployed reelsight stack found (missing {', '.join(missing)}); start the local stack with "
            f"`reelsight local up`, deploy with `cdk deploy`, or set {envvars.INPUT_BUCKET}, "
            f"{envvars.RESULTS_BUCKET} and {envvars.JOBS_TABLE}"
        )
    return StackTarget(
        kind="aws",
        input_bucket=names["input_bucket"],
        results_bucket=names["results_bucket"],
        jobs_table=names["jobs_table"],
        results_topic=names.get("results_topic") or None,
        api_url=os.environ.get(envvars.API_URL) or None,
        region=region,
        profile=profile,
    )


def discover(
    target: str = "auto",
    *,
    state_dir: str | Path | None = None,
    stack_prefix: str = "reelsight",
    region: str | None = None,
    profile: str | None = None,
) -> StackTarget:
    """``local``, ``aws``, or ``auto`` (the local stack when one runs, else AWS)."""
    if target not in ("auto", "local", "aws"):
        raise ParamError(f"target must be auto, local or aws, got {target!r}")
    if target in ("auto", "local"):
        local = local_target(state_dir)
        if local:
            return local
        if target == "local":
            raise StackNotFound("no local stack is running; start one with `reelsight local up`")
    return aws_target(stack_prefix, region, profile)


class Client:
    def __init__(self, target: StackTarget) -> None:
        import boto3

        self.target = target
        kwargs: dict[str, Any] = {}
        if target.credentials:
            kwargs = {
                "aws_access_key_id": target.credentials.get("AWS_ACCESS_KEY_ID"),
                "aws_secret_access_key": target.credentials.get("AWS_SECRET_ACCESS_KEY"),
                "aws_session_token": target.credentials.get("AWS_SESSION_TOKEN"),
            }
        self.session = boto3.session.Session(profile_name=target.profile, region_name=target.region, **kwargs)
        self.s3 = self._client("s3")
        self.dynamodb = self._client("dynamodb")
        self.jobs = JobsTable(self.dynamodb, target.jobs_table)

    def _client(self, service: str) -> Any:
        url = self.target.endpoints.get(service)
        return self.session.client(service, endpoint_url=url) if url else self.session.client(service)

    # --- submit ---

    def upload(
        self,
        path: str | Path,
        options: Mapping[str, str] | None = None,
        *,
        key: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Submission:
        """Upload under the upload prefix, options as ``x-amz-meta-*``; returns what identifies the job."""
        path = Path(path)
        if not path.is_file():
            raise ParamError(f"no such file: {path}")
        for name, value in (options or {}).items():
            if any(sep in str(value) for sep in ",;="):
                raise ParamError(f"{name}: values must not contain ',', ';' or '=', got {value!r}")
        if key is None:
            stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
            key = f"{self.target.upload_prefix}{stamp}-{uuid.uuid4().hex[:8]}/{path.name}"
        extra = {"Metadata": {str(k): str(v) for k, v in (options or {}).items()}}
        self.s3.upload_file(str(path), self.target.input_bucket, key, ExtraArgs=extra, Callback=progress)
        head = self.s3.head_object(Bucket=self.target.input_bucket, Key=key)
        return Submission(
            bucket=self.target.input_bucket,
            key=key,
            etag=str(head.get("ETag", "")).strip('"'),
            version_id=head.get("VersionId"),
            size=int(head.get("ContentLength") or path.stat().st_size),
        )

    # --- jobs ---

    def get_job(self, job_id: str) -> JobRecord | None:
        return self.jobs.get(job_id)

    def find_job(self, submission: Submission) -> JobRecord | None:
        """The job of an upload: by the ids the dispatcher derives, else by its source."""
        for job_id in submission.job_ids():
            job = self.get_job(job_id)
            if job:
                return job
        return self.jobs.find_by_source(submission.source)

    def recent_jobs(self, limit: int = 20) -> list[JobRecord]:
        """Most recent jobs first: the newest ``limit`` of each status (the status index), merged."""
        jobs = [job for status in JobStatus for job in self.jobs.list_page(status=status, limit=limit).items]
        jobs.sort(key=lambda job: job.created_at or "", reverse=True)
        return jobs[:limit]

    def wait(
        self,
        submission: Submission | str,
        *,
        timeout: float = 600.0,
        interval: float = 1.0,
        on_change: Callable[[str, JobRecord | None], None] | None = None,
        on_poll: Callable[[str, JobRecord | None], None] | None = None,
    ) -> JobRecord:
        """Poll the job until it ends (a terminal status); ``on_change(status, job)`` on every new status,
        with status UPLOADED and job None until the dispatcher has recorded it; ``on_poll(status, job)``
        after every read (progress moves within a status)."""
        deadline = time.monotonic() + timeout
        last: str | None = None
        while True:
            job = self.get_job(submission) if isinstance(submission, str) else self.find_job(submission)
            status = (job.status_text if job else None) or UPLOADED
            if status != last:
                last = status
                if on_change:
                    on_change(status, job)
            if on_poll:
                on_poll(status, job)
            if job and job.terminal:
                return job
            if time.monotonic() >= deadline:
                raise JobTimeout(f"the job did not finish within {timeout:.0f}s (last status {status})")
            time.sleep(interval)

    # --- batch and split jobs ---

    def submit_batch(self, request: BatchRequest, *, name: str | None = None) -> Submission:
        """Write ``request`` as ``batch/<name>.batch.json`` in the input bucket (the dispatcher starts
        the job from it); the Submission names the job the way an upload's does."""
        key = request_key(name or request_name("batch"))
        body = request.to_json().encode("utf-8")
        answer = self.s3.put_object(
            Bucket=self.target.input_bucket, Key=key, Body=body, ContentType="application/json"
        )
        return Submission(
            bucket=self.target.input_bucket,
            key=key,
            etag=str(answer.get("ETag", "")).strip('"'),
            version_id=answer.get("VersionId"),
            size=len(body),
        )

    def resume_batch(self, job_id: str) -> Submission:
        """Ask the dispatcher to rerun the parts of ``job_id`` that did not finish; ParamError when the
        job is unknown or not a PARTIAL/FAILED batch or split job."""
        job = self.get_job(job_id)
        if job is None:
            raise ParamError(f"no job {job_id!r} in {self.target.jobs_table}")
        refusal = resume_refusal(job_id, job.status_text, self.batch_plan(job_id))
        if refusal:
            raise ParamError(refusal)
        return self.submit_batch(BatchRequest(resume=job_id), name=request_name(f"resume-{job_id}"))

    def batch_plan(self, job_id: str) -> JobPlan | None:
        """The plan of a batch or split job (``plan.json``); None for any other job, or before the
        dispatcher has written it."""
        try:
            text = self._read(s3_uri(self.target.results_bucket, plan_key(job_id)))
        except self.s3.exceptions.NoSuchKey:
            return None
        try:
            return JobPlan.from_json(text)
        except (ValueError, TypeError) as exc:
            raise ParamError(f"job {job_id} has an unreadable {plan_key(job_id)}: {exc}") from None

    def batch_parts(self, plan: JobPlan) -> list[PartView]:
        """Each part's state from its marker or error record (with the error's reason)."""
        keys = self._keys(self.target.results_bucket, job_prefix(plan.job_id))
        reasons: dict[str, str] = {}
        for part_id in failed_part_ids(plan, keys):
            uri = s3_uri(self.target.results_bucket, error_key(plan.job_id, part_id))
            try:
                reasons[part_id] = PartError.from_json(self._read(uri)).reason
            except Exception:  # a record being written, or not one: part_views says so
                continue
        return part_views(plan, keys, reasons)

    def _keys(self, bucket: str, prefix: str) -> list[str]:
        paginator = self.s3.get_paginator("list_objects_v2")
        return [
            obj["Key"]
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
            for obj in page.get("Contents", [])
        ]

    # --- results ---

    def _read(self, uri: str) -> bytes:
        bucket, key = split_s3_uri(uri)
        return bytes(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    def fetch(self, job: JobRecord | str, dest: str | Path) -> list[Path]:
        """Download a job's files into ``dest`` as they are in the results bucket.

        ``job.json`` (the record), everything under ``jobs/<id>/artifacts/`` (``summary.json``,
        ``frames.jsonl``, the contact sheet, ...) and, for a Processing job, everything under its output
        prefix (a folder per video); ``failure.txt`` for a failed async job.
        """
        if isinstance(job, str):
            found = self.get_job(job)
            if not found:
                raise ParamError(f"no job {job!r} in {self.target.jobs_table}")
            job = found
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "job.json").write_text(json.dumps(job.to_item(), indent=2, sort_keys=True, default=str))
        written = [dest / "job.json"]
        failure = job.failure_location
        if job.status is JobStatus.FAILED and failure:
            try:
                (dest / "failure.txt").write_bytes(self._read(str(failure)))
                written.append(dest / "failure.txt")
            except Exception:
                pass  # failures before submission have no failure object
        # A finished job's parts repeat its frames.jsonl; a PARTIAL or running job's are all it has.
        skip = parts_prefix(job.job_id) if job.status is JobStatus.SUCCEEDED else None
        written += self._download(self.target.results_bucket, artifacts_prefix(job.job_id), dest, skip=skip)
        output = job.output_location or ""
        if output.endswith("/"):  # a Processing job's output prefix
            written += self._download(*split_s3_uri(output), dest)
        return written

    def _download(self, bucket: str, prefix: str, dest: Path, *, skip: str | None = None) -> list[Path]:
        """Every object under ``prefix`` (but those under ``skip``), to the same relative path under
        ``dest`` (never outside it)."""
        written: list[Path] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                if skip and obj["Key"].startswith(skip):
                    continue
                relative = obj["Key"][len(prefix) :]
                target = dest / relative
                if not relative or relative.endswith("/") or dest.resolve() not in target.resolve().parents:
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                self.s3.download_file(bucket, obj["Key"], str(target))
                written.append(target)
        return written


def describe_summary(summary: Mapping[str, Any]) -> list[str]:
    """Human-readable lines for a run's short summary (a full summary.json is shortened first)."""
    short = ShortSummary.from_json(summary)
    lines = [f"model {short.model}"]
    if short.random_weights:
        lines.append(
            "!!! RANDOM WEIGHTS: no pretrained checkpoint was available; the detections are noise !!!"
        )
    lines.append(
        f"frames sampled: {short.frames_sampled}, detections: {short.detections_total}, "
        f"status: {short.status}"
    )
    if short.timings.total:
        lines.append(f"run time: {short.timings.total:.1f} s (inference {short.timings.inference:.1f} s)")
    unique = short.unique_objects_per_class
    if unique is None:
        for name, count in sorted(short.counts_per_class.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"  {name:<20} {count}")
    else:
        lines.append(f"  {'class':<20} {'detections':>10} {'objects':>8}")
        for name, count in sorted(short.counts_per_class.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"  {name:<20} {count:>10} {unique.get(name, 0):>8}")
    if short.error:
        lines.append(f"error: {short.error}")
    for warning in short.warnings:
        lines.append(f"warning: {warning}")
    return lines
