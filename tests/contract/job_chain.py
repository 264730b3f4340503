"""Jobs as the real producers leave them, for every test that reads jobs.

The dispatcher (``lambdas.dispatch.dispatcher.dispatch``) records an upload and submits it to
moto's SageMaker; the results Lambda (``lambdas.results.updater.apply_result``) records what the
local async endpoint notifies (``reelsight.local.async_endpoint``) or what EventBridge reports of a
Processing job; the API's progress write is the contract's ``JobsTable.record_progress``. No test
writes a job item by hand where one of these produces it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import boto3

import lambdas.dispatch.handler  # noqa: F401 - the Lambda's parent logger, which the dispatcher logs through
import lambdas.results.handler  # noqa: F401 - likewise for the results handler
from lambdas.common.clients import Clients
from lambdas.common.settings import Settings
from lambdas.dispatch.dispatcher import dispatch
from lambdas.dispatch.records import ObjectEvent
from lambdas.results.messages import (
    PROCESSING_DETAIL_TYPE,
    ResultEvent,
    parse_async_notification,
    parse_processing_event,
)
from lambdas.results.updater import apply_result
from reelsight.contract.jobs import JobRecord, JobsTable, now_iso
from reelsight.contract.names import ASYNC_FAILURE_PATH, ASYNC_OUTPUT_PATH, s3_uri, split_s3_uri
from reelsight.contract.processing import ProcessingJobDefinition
from reelsight.local.async_endpoint import AsyncRequest, failure_notification, success_notification
from reelsight.testing.moto_server import FAKE_CREDENTIALS

ENDPOINT_NAME = "reelsight-test-endpoint"
VIDEO_BYTES = b"\x00\x00\x00\x18ftypmp42 a stand-in for a video"


@dataclass
class JobChain:
    """The producers of job records, wired to one jobs table and its buckets."""

    dynamodb: Any
    s3: Any
    sagemaker: Any
    sagemaker_runtime: Any
    jobs_table: str
    input_bucket: str
    results_bucket: str

    @classmethod
    def on_moto(cls, url: str, *, jobs_table: str, input_bucket: str, results_bucket: str) -> JobChain:
        session = boto3.session.Session(
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=FAKE_CREDENTIALS["AWS_DEFAULT_REGION"],
        )

        def client(service: str) -> Any:
            return session.client(service, endpoint_url=url)

        return cls(
            dynamodb=client("dynamodb"),
            s3=client("s3"),
            sagemaker=client("sagemaker"),
            sagemaker_runtime=client("sagemaker-runtime"),
            jobs_table=jobs_table,
            input_bucket=input_bucket,
            results_bucket=results_bucket,
        )

    @property
    def table(self) -> JobsTable:
        return JobsTable(self.dynamodb, self.jobs_table)

    def settings(self) -> Settings:
        processing = ProcessingJobDefinition(
            role_arn="arn:aws:iam::123456789012:role/reelsight-processing",
            image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/reelsight-worker:test",
            instance_type="ml.g5.2xlarge",
            results_bucket=self.results_bucket,
        )
        return Settings(
            jobs_table=self.jobs_table,
            input_bucket=self.input_bucket,
            results_bucket=self.results_bucket,
            endpoint_name=ENDPOINT_NAME,
            processing=processing,
        )

    def clients(self) -> Clients:
        return Clients(
            overrides={
                "dynamodb": self.dynamodb,
                "s3": self.s3,
                "sagemaker": self.sagemaker,
                "sagemaker-runtime": self.sagemaker_runtime,
                "sns": None,  # no results topic is configured, so nothing is published
            }
        )

    def job(self, job_id: str) -> JobRecord:
        record = self.table.get(job_id)
        assert record is not None, f"job {job_id} is not in {self.jobs_table}"
        return record

    # --- the dispatcher ---

    def upload(self, key: str, *, body: bytes = VIDEO_BYTES, **metadata: str) -> JobRecord:
        """Put ``key`` in the input bucket and dispatch it."""
        self.s3.put_object(Bucket=self.input_bucket, Key=key, Body=body, Metadata=metadata)
        return self.dispatch(key)

    def dispatch(self, key: str) -> JobRecord:
        """Dispatch the S3 event of an object in the input bucket, as the upload queue delivers it."""
        head = self.s3.head_object(Bucket=self.input_bucket, Key=key)
        event = ObjectEvent(
            bucket=self.input_bucket,
            key=key,
            event_name="ObjectCreated:Put",
            size=int(head["ContentLength"]),
            etag=str(head["ETag"]).strip('"'),
            event_time=now_iso(),
        )
        outcome = dispatch(event, settings=self.settings(), clients=self.clients(), environ={})
        assert outcome.job_id and outcome.action in ("submitted", "failed", "rejected"), outcome
        return self.job(outcome.job_id)

    # --- the results Lambda ---

    def _apply(self, event: ResultEvent) -> JobRecord:
        applied = apply_result(event, settings=self.settings(), clients=self.clients())
        assert applied.action == "updated", applied
        return self.job(event.job_id)

    def async_request(self, job: JobRecord, output_location: str | None = None) -> AsyncRequest:
        """The local async endpoint's view of the job's invocation."""
        name = f"{uuid.uuid4()}.out"
        return AsyncRequest(
            inference_id=job.inference_id or job.job_id,
            input_location=job.source,
            body=None,
            content_type="video/mp4",
            accept=None,
            custom_attributes=f"job_id={job.job_id}",
            ttl=21600,
            timeout=900,
            output_location=output_location or s3_uri(self.results_bucket, f"{ASYNC_OUTPUT_PATH}/{name}"),
            failure_location=s3_uri(self.results_bucket, f"{ASYNC_FAILURE_PATH}/{name}"),
        )

    def complete_async(self, job: JobRecord, output_location: str, body: bytes | None = None) -> JobRecord:
        """The endpoint answered into ``output_location`` (already written); the results Lambda records it."""
        message = success_notification(
            ENDPOINT_NAME, self.async_request(job, output_location), "application/json", body
        )
        return self._apply(parse_async_notification(message))

    def fail_async(self, job: JobRecord, reason: str) -> JobRecord:
        request = self.async_request(job)
        bucket, key = split_s3_uri(request.failure_location)
        self.s3.put_object(Bucket=bucket, Key=key, Body=reason.encode())
        return self._apply(parse_async_notification(failure_notification(ENDPOINT_NAME, request, reason)))

    def processing_started(self, job: JobRecord) -> JobRecord:
        return self.processing_state(job, "InProgress")

    def processing_state(self, job: JobRecord, status: str) -> JobRecord:
        """EventBridge's state change of the job's Processing job to ``status`` (``InProgress``,
        ``Completed``, ``Failed``, ``Stopped``), its detail as DescribeProcessingJob shows the job."""
        assert job.processing_job_name, f"job {job.job_id} has no Processing job"
        described = self.sagemaker.describe_processing_job(ProcessingJobName=job.processing_job_name)
        detail = {k: _epoch_ms(v) for k, v in described.items() if k != "ResponseMetadata"}
        detail["ProcessingJobStatus"] = status
        event = {"detail-type": PROCESSING_DETAIL_TYPE, "source": "aws.sagemaker", "detail": detail}
        parsed = parse_processing_event(event)
        assert isinstance(parsed, ResultEvent), parsed
        return self._apply(parsed)

    # --- the API's progress endpoint ---

    def report_progress(self, job: JobRecord, video: str, done: int, total: int | None = None) -> JobRecord:
        self.table.record_progress(job.job_id, video, done, total)
        return self.job(job.job_id)


def _epoch_ms(value: Any) -> Any:
    """EventBridge spells DescribeProcessingJob's datetimes as epoch milliseconds."""
    return int(value.timestamp() * 1000) if isinstance(value, dt.datetime) else value
