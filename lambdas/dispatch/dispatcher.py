"""Dispatch one uploaded object: head it, validate its options, record the job, start the work.

Each object is handled at most once: Powertools idempotency on DynamoDB, keyed by bucket + key +
version id (the event's sequencer when unversioned), and a conditional write on the jobs table as
a second guard.
A failure that may pass on retry (throttling, network) raises, so the SQS record is retried and the
idempotency record is released; user mistakes (bad metadata, missing object) end as FAILED jobs.
Every object under the watched prefixes gets a record: one that is not a supported video ends as a
REJECTED job with a notification, so no upload disappears without a trace.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from botocore.exceptions import ClientError

from lambdas.common.clients import Clients
from lambdas.common.jobids import job_id_for, object_version
from lambdas.common.parts import write_inputs
from lambdas.common.settings import Settings
from lambdas.dispatch import batch, routing, submit
from lambdas.dispatch.outcomes import (
    DUPLICATE,
    FAILED,
    IGNORED,
    REJECTED,
    SUBMITTED,
    Outcome,
    base_record,
    fail,
    reject,
)
from lambdas.dispatch.records import ObjectEvent
from reelsight.contract.batch import is_batch_request_key
from reelsight.contract.jobs import JobRecord, JobsTable, JobStatus
from reelsight.contract.names import s3_uri
from reelsight.contract.processing import single_video_plan
from reelsight.errors import ParamError
from reelsight.models.registry import get_spec

logger = Logger(service="reelsight-dispatch", child=True)

IDEMPOTENCY_KEY_PREFIX = "reelsight-dispatch"
__all__ = [
    "DUPLICATE",
    "FAILED",
    "IGNORED",
    "REJECTED",
    "SUBMITTED",
    "Outcome",
    "dispatch",
    "dispatch_object",
]


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


@dataclass(frozen=True)
class _Plan:
    """What one upload asks for and where it goes, decided before anything is written."""

    wanted: routing.ObjectOptions
    route: str
    route_reason: str
    content_type: str
    attributes: str  # custom attributes of the async invocation; "" for Processing


def _object_details(head: dict[str, Any], event: ObjectEvent) -> dict[str, Any]:
    metadata = {str(k): str(v) for k, v in (head.get("Metadata") or {}).items()}
    return {
        "size_bytes": int(head.get("ContentLength") or event.size or 0),
        "content_type": head.get("ContentType"),
        "metadata": metadata or None,
    }


def _plan(
    event: ObjectEvent,
    job_id: str,
    head: dict[str, Any],
    details: dict[str, Any],
    settings: Settings,
    environ: Mapping[str, str],
) -> _Plan:
    """Options and route for the upload (``details`` from :func:`_object_details`); ParamError when
    its metadata is invalid."""
    wanted = routing.options_from_metadata(details["metadata"] or {}, environ)
    route, route_reason = routing.choose_route(
        key=event.key,
        size=details["size_bytes"],
        route_hint=wanted.route_hint,
        model=wanted.options.model,
        settings=settings,
    )
    if wanted.split is not None:
        route, route_reason = routing.PROCESSING, f"split into {wanted.split} time ranges by metadata split"
    attributes = ""
    if route == routing.ASYNC:
        video_uri = s3_uri(event.bucket, event.key)
        attributes = routing.custom_attributes(job_id, wanted.overrides, video_uri=video_uri)
    content_type = routing.content_type_for(event.key, head.get("ContentType"))
    return _Plan(wanted, route, route_reason, content_type, attributes)


def _queued_record(
    event: ObjectEvent, job_id: str, settings: Settings, plan: _Plan, details: dict[str, Any]
) -> JobRecord:
    return replace(
        base_record(event, job_id, settings, JobStatus.QUEUED),
        **details,
        route=plan.route,
        route_reason=plan.route_reason,
        params=dict(plan.wanted.overrides),
        options=plan.wanted.options.to_dict(),
        ignored_metadata=list(plan.wanted.ignored_keys) or None,
    )


def _submit(
    event: ObjectEvent, job_id: str, plan: _Plan, settings: Settings, clients: Clients
) -> dict[str, str]:
    source = s3_uri(event.bucket, event.key)
    if plan.route == routing.ASYNC:
        return submit.invoke_async(
            clients.sagemaker_runtime,
            settings,
            job_id=job_id,
            input_location=source,
            content_type=plan.content_type,
            attributes=plan.attributes,
        )
    # The job reads exactly this object: a manifest naming it, and the one-part plan.
    definition = submit.definition_of(settings)
    video_plan = single_video_plan(job_id, source, options=plan.wanted.overrides)
    write_inputs(clients.s3, definition.results_bucket, video_plan, 1, video_plan.parts)
    return submit.start_processing(
        clients.sagemaker,
        settings,
        job_id=job_id,
        input_location=source,
        overrides=plan.wanted.overrides,
        framework=get_spec(plan.wanted.options.model).framework,
    )


def dispatch_object(
    event: ObjectEvent, *, job_id: str, settings: Settings, clients: Clients, environ: Mapping[str, str]
) -> Outcome:
    """The work behind :func:`dispatch`, without the idempotency guard."""
    if event.key.startswith(settings.batch_prefix) and is_batch_request_key(event.key):
        return batch.dispatch_request(
            event, job_id=job_id, settings=settings, clients=clients, environ=environ
        )
    why_rejected = routing.rejection_reason(event.key, settings)
    if why_rejected:
        return reject(event, job_id, why_rejected, settings, clients)
    head = _head(clients, event)
    if head is None:
        return fail(event, job_id, "the uploaded object no longer exists", settings, clients, {})
    details = _object_details(head, event)
    try:
        plan = _plan(event, job_id, head, details, settings, environ)
    except ParamError as exc:
        return fail(event, job_id, f"invalid parameters: {exc}", settings, clients, details)
    if plan.wanted.split is not None:
        return batch.start_split_upload(
            event, job_id, plan.wanted, details, settings=settings, clients=clients
        )
    store = JobsTable(clients.dynamodb, settings.jobs_table)
    if not store.create(_queued_record(event, job_id, settings, plan, details)):
        return Outcome(DUPLICATE, job_id=job_id, route=plan.route, reason="job already submitted")
    if plan.wanted.ignored_keys:
        logger.info("ignored metadata keys", extra={"keys": list(plan.wanted.ignored_keys)})
    fields = _submit(event, job_id, plan, settings, clients)
    store.mark_submitted(job_id, fields)
    logger.info("job submitted", extra={"route": plan.route, "route_reason": plan.route_reason, **fields})
    return Outcome(SUBMITTED, job_id=job_id, route=plan.route, reason=plan.route_reason)
