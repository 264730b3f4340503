"""The user-side SDK: upload a video, follow its job, fetch its results.

The same code talks to the local stack (names and endpoint URLs from the state file that
``reelsight local up`` writes) and to a deployed stack on AWS (names from the stacks'
CloudFormation outputs, or from ``REELSIGHT_*`` environment variables).
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
from reelsight.errors import ParamError, ReelsightError

TERMINAL = frozenset({"SUCCEEDED", "FAILED"})
STATUSES = ("QUEUED", "RUNNING", "SUCCEEDED", "FAILED")
# Stack outputs the CDK app declares for clients.
OUTPUT_KEYS = {
    "input_bucket": "InputBucketName",
    "results_bucket": "ResultsBucketName",
    "jobs_table": "JobsTableName",
    "results_topic": "ResultsTopicArn",
    "api_url": "ApiUrl",
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
    upload_prefix: str = "incoming/"
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
        return f"s3://{self.bucket}/{self.key}"

    def job_ids(self) -> list[str]:
        """The ids the dispatcher may derive for this object (from the version id, else the ETag)."""
        from lambdas.common.jobids import job_id_for, object_version

        ids = []
        if self.version_id and self.version_id != "null":
            ids.append(job_id_for(self.bucket, self.key, object_version(self.version_id, None)))
        ids.append(job_id_for(self.bucket, self.key, object_version(None, self.etag)))
        return ids


def match_outputs(outputs: Mapping[str, str]) -> dict[str, str]:
    """Client-side names from stack outputs (``OUTPUT_KEYS``)."""
    return {role: outputs[key] for role, key in OUTPUT_KEYS.items() if outputs.get(key)}


def local_target(state_dir: str | Path | None = None) -> StackTarget | None:
    """The running local stack, from its state file; None when there is none."""
    from reelsight.local.state import pid_alive, read_state
    from reelsight.local.state import state_dir as default_dir

    state = read_state(default_dir(state_dir))
    if not state or state.get("status") != "ready" or not pid_alive(state.get("supervisor_pid")):
        return None
    names = state.get("names") or {}
    env = state.get("env") or {}
    endpoints = {"sagemaker-runtime": env.get("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "")}
    for service in ("s3", "sqs", "sns", "dynamodb", "cloudformation"):
        endpoints[service] = state["moto_url"]
    credentials = {k: v for k, v in env.items() if k.startswith("AWS_") and "ENDPOINT" not in k}
    return StackTarget(
        kind="local",
        input_bucket=names["input_bucket"],
        results_bucket=names["results_bucket"],
        jobs_table=names["jobs_table"],
        results_topic=names.get("results_topic"),
        upload_prefix=names.get("upload_prefix") or "incoming/",
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
        cfn = session.client("cloudformation")
        outputs: dict[str, str] = {}
        try:
            for page in cfn.get_paginator("describe_stacks").paginate():
                for stack in page.get("Stacks", []):
                    if stack["StackName"].lower().startswith(stack_prefix.lower()):
                        for out in stack.get("Outputs", []):
                            outputs[out["OutputKey"]] = out["OutputValue"]
        except Exception as exc:
            raise StackNotFound(f"could not read the stacks' outputs from CloudFormation: {exc}") from None
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

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        from lambdas.common.jobs import from_item

        item = self.dynamodb.get_item(
            TableName=self.target.jobs_table, Key={"job_id": {"S": job_id}}, ConsistentRead=True
        )
        return from_item(item["Item"]) if "Item" in item else None

    def find_job(self, submission: Submission) -> dict[str, Any] | None:
        for job_id in submission.job_ids():
            job = self.get_job(job_id)
            if job:
                return job
        from lambdas.common.jobs import from_item

        scan = self.dynamodb.get_paginator("scan").paginate(
            TableName=self.target.jobs_table,
            FilterExpression="#s = :s",
            ExpressionAttributeNames={"#s": "source"},
            ExpressionAttributeValues={":s": {"S": submission.source}},
        )
        for page in scan:
            for item in page.get("Items", []):
                return from_item(item)
        return None

    def recent_jobs(self, limit: int = 20) -> list[dict[str, Any]]:
        """Most recent jobs first (the status index when there is one, else a scan)."""
        from lambdas.common.jobs import from_item

        items: list[dict[str, Any]] = []
        index = self._status_index()
        try:
            if index is None:
                raise LookupError("the jobs table has no index on status")
            for status in STATUSES:
                answer = self.dynamodb.query(
                    TableName=self.target.jobs_table,
                    IndexName=index,
                    KeyConditionExpression="#s = :s",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={":s": {"S": status}},
                    ScanIndexForward=False,
                    Limit=limit,
                )
                items += [from_item(i) for i in answer.get("Items", [])]
        except (LookupError, self.dynamodb.exceptions.ClientError):
            items = []
            for page in self.dynamodb.get_paginator("scan").paginate(TableName=self.target.jobs_table):
                items += [from_item(i) for i in page.get("Items", [])]
        items.sort(key=lambda job: str(job.get("created_at", "")), reverse=True)
        return items[:limit]

    def _status_index(self) -> str | None:
        """The global secondary index keyed by ``status`` (and sorted by ``created_at``), if any."""
        try:
            table = self.dynamodb.describe_table(TableName=self.target.jobs_table)["Table"]
        except self.dynamodb.exceptions.ClientError:
            return None
        for index in table.get("GlobalSecondaryIndexes") or []:
            keys = {k["KeyType"]: k["AttributeName"] for k in index.get("KeySchema", [])}
            if keys.get("HASH") == "status":
                return str(index["IndexName"])
        return None

    def wait(
        self,
        submission: Submission | str,
        *,
        timeout: float = 600.0,
        interval: float = 1.0,
        on_change: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll the job until it is SUCCEEDED or FAILED; ``on_change(status, job)`` on every new status."""
        deadline = time.monotonic() + timeout
        last: str | None = None
        while True:
            job = self.get_job(submission) if isinstance(submission, str) else self.find_job(submission)
            status = str(job.get("status")) if job else "UPLOADED"
            if status != last:
                last = status
                if on_change:
                    on_change(status, job or {})
            if job and status in TERMINAL:
                return job
            if time.monotonic() >= deadline:
                raise JobTimeout(f"the job did not finish within {timeout:.0f}s (last status {status})")
            time.sleep(interval)

    # --- results ---

    def _read(self, uri: str) -> bytes:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        return bytes(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    def fetch(self, job: dict[str, Any] | str, dest: str | Path) -> list[Path]:
        """Download a job's result document (summary.json + frames.jsonl) and artifacts into ``dest``."""
        if isinstance(job, str):
            found = self.get_job(job)
            if not found:
                raise ParamError(f"no job {job!r} in {self.target.jobs_table}")
            job = found
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        job_id = str(job["job_id"])
        (dest / "job.json").write_text(json.dumps(job, indent=2, sort_keys=True, default=str))
        written.append(dest / "job.json")
        output = job.get("output_location")
        if output and job.get("status") == "SUCCEEDED":
            document = json.loads(self._read(str(output)))
            if isinstance(document, dict) and "summary" in document:
                (dest / "summary.json").write_text(json.dumps(document["summary"], indent=2))
                written.append(dest / "summary.json")
                with open(dest / "frames.jsonl", "w") as frames:
                    for frame in document.get("frames") or []:
                        frames.write(json.dumps(frame, separators=(",", ":")) + "\n")
                written.append(dest / "frames.jsonl")
            else:
                (dest / "output.json").write_text(json.dumps(document, indent=2))
                written.append(dest / "output.json")
        failure = job.get("failure_location")
        if job.get("status") == "FAILED" and failure:
            try:
                (dest / "failure.txt").write_bytes(self._read(str(failure)))
                written.append(dest / "failure.txt")
            except Exception:
                pass  # failures before submission have no failure object
        prefix = f"jobs/{job_id}/artifacts/"
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.target.results_bucket, Prefix=prefix
        ):
            for obj in page.get("Contents", []):
                relative = obj["Key"][len(prefix) :]
                if not relative or relative.endswith("/"):
                    continue
                target = dest / "artifacts" / relative
                if (dest / "artifacts") not in target.resolve().parents:
                    continue  # never write outside dest
                target.parent.mkdir(parents=True, exist_ok=True)
                self.s3.download_file(self.target.results_bucket, obj["Key"], str(target))
                written.append(target)
        return written


def describe_summary(summary: Mapping[str, Any]) -> list[str]:
    """Human-readable lines for a run summary (frames, detections per class, model, warnings)."""
    lines = []
    model = summary.get("model") or {}
    if isinstance(model, dict):  # the full summary.json
        lines.append(
            f"model {model.get('name')} ({model.get('weights')}, device {model.get('device')}, "
            f"precision {model.get('precision')})"
        )
        random_weights = bool(model.get("random_weights"))
    else:  # the short summary kept in the job record
        lines.append(f"model {model}")
        random_weights = bool(summary.get("random_weights"))
    if random_weights:
        lines.append(
            "!!! RANDOM WEIGHTS: no pretrained checkpoint was available; the detections are noise !!!"
        )
    video = summary.get("video") or {}
    if isinstance(video, dict) and video:
        lines.append(
            f"video {video.get('width')}x{video.get('height')}, "
            f"{video.get('duration')} s at {video.get('fps')} fps"
        )
    lines.append(
        f"frames sampled: {summary.get('frames_sampled')}, detections: {summary.get('detections_total')}, "
        f"status: {summary.get('status')}"
    )
    counts = summary.get("counts_per_class") or {}
    for name, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"  {name:<20} {count}")
    for warning in summary.get("warnings") or []:
        lines.append(f"warning: {warning}")
    return lines
