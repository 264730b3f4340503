"""Dispatch one uploaded object: head it, validate its options, record the job, start the work.

Each object is handled at most once: Powertools idempotency on DynamoDB, keyed by bucket + key +
version id (ETag when unversioned), and a conditional write on the jobs table as a second guard.
A failure that may pass on retry (throttling, network) raises, so the SQS record is retried and the
idempotency record is released; user mistakes (bad metadata, missing object) end as FAILED jobs.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from botocore.exceptions import ClientError

from lambdas.common import jobs
from lambdas.common.clients import Clients
from lambdas.common.jobids import job_id_for, object_version
from lambdas.common.notify import publish
from lambdas.common.s3uri import s3_uri
from lambdas.common.settings import Settings
from lambdas.dispatch import routing, submit
from lambdas.dispatch.records import ObjectEvent
from reelsight.errors import ParamError
from reelsight.models.registry import get_spec

logger = Logger(service="reelsight-dispatch", child=True)

SUBMITTED = "submitted"
DUPLICATE = "duplicate"
FAILED = "failed"
IGNORED = "ignored"
IDEMPOTENCY_KEY_PREFIX = "reelsight-dispatch"


@dataclass(frozen=True)
class Outcome:
    action: str  # submitted | duplicate | failed | ignored
    job_id: str | None = None
    route: str | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


_persistence: dict[tuple[int, str], DynamoDBPersistenceLayer] = {}


def _persistence_layer(clients: Clients, table: str) -> DynamoDBPersistenceLayer:
    client = clients.dynamodb
    cache_key = (id(client), table)
    if cache_key not in _persistence:
        _persistence[cache_key] = DynamoDBPersistenceLayer(table_name=table, boto3_client=client)
    return _persistence[cache_key]


def dispatch(
    event: ObjectEvent,
    *,
    settings: Settings,
    clients: Clients,
    environ: Mapping[str, str] | None = None,
    idempotency_config: IdempotencyConfig | None = None,
) -> Outcome:
    """Dispatch one object event once; a repeated event returns ``duplicate`` and starts nothing."""
    why_not = routing.ignore_reason(event.bucket, event.key, event.event_name, settings)
    if why_not:
        return Outcome(IGNORED, reason=why_not)
    env = os.environ if environ is None else environ
    version = object_version(event.version_id, event.etag, event.sequencer)
    job_id = job_id_for(event.bucket, event.key, version)
    logger.append_keys(job_id=job_id)
    ref = {"bucket": event.bucket, "key": event.key, "version": version}
    executed: list[bool] = []

    def run_once(*, ref: dict[str, str]) -> dict[str, Any]:
        executed.append(True)
        return dispatch_object(
            event, job_id=job_id, settings=settings, clients=clients, environ=env
        ).to_dict()

    if not settings.idempotency_table:
        logger.warning("no idempotency table configured; relying on the jobs table alone")
        return Outcome(**run_once(ref=ref))
    config = idempotency_config or IdempotencyConfig(expires_after_seconds=settings.idempotency_ttl_seconds)
    guarded = idempotent_function(
        data_keyword_argument="ref",
        persistence_store=_persistence_layer(clients, settings.idempotency_table),
        config=config,
        key_prefix=IDEMPOTENCY_KEY_PREFIX,
    )(run_once)
    result = Outcome(**guarded(ref=ref))
    if not executed:
        return Outcome(DUPLICATE, job_id=job_id, route=result.route, reason="event already dispatched")
    return result


def base_record(event: ObjectEvent, job_id: str, settings: Settings, status: str) -> dict[str, Any]:
    moment = jobs.now_iso()
    record: dict[str, Any] = {
        "job_id": job_id,
        "source": s3_uri(event.bucket, event.key),
        "bucket": event.bucket,
        "key": event.key,
        "video": posixpath.basename(event.key),
        "status": status,
        "created_at": moment,
        "updated_at": moment,
        "uploaded_at": event.event_time,
        "etag": (event.etag or "").strip('"') or None,
        "version_id": event.version_id,
        "status_history": [],
    }
    if settings.results_bucket:
        record["results_prefix"] = s3_uri(settings.results_bucket, f"jobs/{job_id}/")
    return record


def _fail(
    event: ObjectEvent, job_id: str, reason: str, settings: Settings, clients: Clients, extra: dict[str, Any]
) -> Outcome:
    record = {**base_record(event, job_id, settings, jobs.FAILED), **extra, "reason": reason}
    record["finished_at"] = record["created_at"]
    record["status_history"] = [jobs.history_entry(jobs.FAILED, record["created_at"], reason)]
    if not jobs.JobStore(clients.dynamodb, settings.jobs_table).create(record):
        return Outcome(DUPLICATE, job_id=job_id, reason="job already recorded")
    logger.warning("job failed before submission", extra={"reason": reason})
    publish(clients.sns, settings.results_topic_arn, record)
    return Outcome(FAILED, job_id=job_id, reason=reason)


def _head(clients: Clients, event: ObjectEvent) -> dict[str, Any] | None:
    kwargs = {"Bucket": event.bucket, "Key": event.key}
    if event.version_id:
        kwargs["VersionId"] = event.version_id
    try:
        return dict(clients.s3.head_object(**kwargs))
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchKey", "NotFound", "NoSuchVersion"):
            return None
        raise


def dispatch_object(
    event: ObjectEvent, *, job_id: str, settings: Settings, clients: Clients, environ: Mapping[str, str]
) -> Outcome:
    """The work behind :func:`dispatch`, without the idempotency guard."""
    head = _head(clients, event)
    if head is None:
        return _fail(event, job_id, "the uploaded object no longer exists", settings, clients, {})
    size = int(head.get("ContentLength") or event.size or 0)
    metadata = {str(k): str(v) for k, v in (head.get("Metadata") or {}).items()}
    details = {"size_bytes": size, "content_type": head.get("ContentType"), "metadata": metadata or None}
    try:
        wanted = routing.options_from_metadata(metadata, environ)
        route, route_reason = routing.choose_route(
            key=event.key,
            size=size,
            route_hint=wanted.route_hint,
            model=wanted.options.model,
            settings=settings,
        )
        content_type = routing.content_type_for(event.key, head.get("ContentType"))
        attributes = ""
        if route == routing.ASYNC:
            video_uri = s3_uri(event.bucket, event.key)
            attributes = routing.custom_attributes(job_id, wanted.overrides, video_uri=video_uri)
    except ParamError as exc:
        return _fail(event, job_id, f"invalid parameters: {exc}", settings, clients, details)

    record = {
        **base_record(event, job_id, settings, jobs.QUEUED),
        **details,
        "route": route,
        "route_reason": route_reason,
        "params": wanted.overrides,
        "options": wanted.options.to_dict(),
        "ignored_metadata": list(wanted.ignored_keys) or None,
    }
    record["status_history"] = [jobs.history_entry(jobs.QUEUED, record["created_at"])]
    store = jobs.JobStore(clients.dynamodb, settings.jobs_table)
    if not store.create(record):
        return Outcome(DUPLICATE, job_id=job_id, route=route, reason="job already submitted")
    if wanted.ignored_keys:
        logger.info("ignored metadata keys", extra={"keys": list(wanted.ignored_keys)})

    source = record["source"]
    if route == routing.ASYNC:
        fields = submit.invoke_async(
            clients.sagemaker_runtime,
            settings,
            job_id=job_id,
            input_location=source,
            content_type=content_type,
            attributes=attributes,
        )
    else:
        fields = submit.start_processing(
            clients.sagemaker,
            settings,
            job_id=job_id,
            input_location=source,
            overrides=wanted.overrides,
            framework=get_spec(wanted.options.model).framework,
        )
    store.mark_submitted(job_id, fields)
    logger.info("job submitted", extra={"route": route, "route_reason": route_reason, **fields})
    return Outcome(SUBMITTED, job_id=job_id, route=route, reason=route_reason)
