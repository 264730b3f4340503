"""POST /v1/batches, POST /v1/jobs/{id}/resume and a batch's parts in GET /v1/jobs/{id}, on a real
API server against the moto server."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from reelsight.api.sessions import SESSION_COOKIE
from reelsight.contract.batch import BatchRequest, is_batch_request_key
from reelsight.contract.jobids import job_id_for, object_version
from reelsight.contract.jobs import JobStatus
from reelsight.contract.names import BATCH_PREFIX
from tests.api.batch_job import batch_job
from tests.api.support import ApiResources, ApiServer
from tests.api.viewer_job import job_chain


@pytest.fixture()
def versioned(api_aws: ApiResources) -> ApiResources:
    """The input bucket versioned, as the deployed one is (the job id comes from the version id)."""
    api_aws.s3.put_bucket_versioning(
        Bucket=api_aws.input_bucket, VersioningConfiguration={"Status": "Enabled"}
    )
    return api_aws


def read_request(resources: ApiResources, key: str) -> tuple[BatchRequest, dict[str, Any]]:
    obj = resources.s3.get_object(Bucket=resources.input_bucket, Key=key)
    return BatchRequest.from_json(obj["Body"].read()), obj


def request_keys(resources: ApiResources) -> set[str]:
    listed = resources.s3.list_objects_v2(Bucket=resources.input_bucket, Prefix=BATCH_PREFIX)
    return {obj["Key"] for obj in listed.get("Contents", [])}


def test_post_batch_writes_the_request_document(api_server: ApiServer, versioned: ApiResources) -> None:
    body = {
        "prefix": "clips/2026/",
        "mode": "frames",
        "image_format": "png",
        "options": {"fps": 2, "size": "640x360"},
        "instance_count": 3,
    }
    answer = api_server.client().post("/v1/batches", json=body, params={"name": "nightly-clips"})
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    assert accepted["request_key"] == "batch/nightly-clips.batch.json"
    assert is_batch_request_key(accepted["request_key"])
    assert accepted["s3_uri"] == f"s3://{versioned.input_bucket}/batch/nightly-clips.batch.json"
    request, obj = read_request(versioned, accepted["request_key"])
    assert request == BatchRequest(
        prefix="clips/2026/",
        mode="frames",
        image_format="png",
        options={"fps": "2", "size": "640x360"},
        instance_count=3,
    )
    assert obj["ContentType"] == "application/json"
    version = obj["VersionId"]
    assert accepted["job_id"] == job_id_for(
        versioned.input_bucket, accepted["request_key"], object_version(version, None)
    )


def test_post_batch_names_a_fresh_document_by_default(api_server: ApiServer, versioned: ApiResources) -> None:
    client = api_server.client()
    body = {"videos": ["s3://in/long.mp4"], "split": True, "instance_count": 4}
    first = client.post("/v1/batches", json=body).json()
    second = client.post("/v1/batches", json=body).json()
    assert first["request_key"] != second["request_key"]
    assert first["job_id"] != second["job_id"]
    for accepted in (first, second):
        assert accepted["request_key"].startswith("batch/batch-")
        request, _ = read_request(versioned, accepted["request_key"])
        assert request.split and request.videos == ("s3://in/long.mp4",) and request.instance_count == 4


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"{not json", "must be JSON"),
        (b'["a.mp4"]', "must be a JSON object"),
        (b'{"prefix": "a/", "colour": "red"}', "unknown batch request fields ['colour']"),
        (b'{"prefix": "a/", "videos": ["b.mp4"]}', "exactly one of videos, prefix or resume"),
        (b"{}", "exactly one of videos, prefix or resume, got none"),
        (b'{"prefix": "a/", "mode": "paint"}', "mode must be one of infer, frames"),
        (b'{"prefix": "a/", "instance_count": 0}', "instance_count must be 1..100"),
        (b'{"prefix": "a/", "instance_count": "3"}', "instance_count must be a whole number"),
        (b'{"videos": ["a.mp4", "b.mp4"], "split": true}', "split cuts one video by time"),
        (b'{"prefix": "a/", "options": {"include": "masks,preview"}}', "must not contain ','"),
    ],
)
def test_bad_bodies_are_400_with_the_reason(
    api_server: ApiServer, api_aws: ApiResources, content: bytes, fragment: str
) -> None:
    before = request_keys(api_aws)
    answer = api_server.client().post(
        "/v1/batches", content=content, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400, answer.text
    assert fragment in answer.json()["detail"]
    assert request_keys(api_aws) == before  # nothing written


def test_a_bad_name_is_refused(api_server: ApiServer, api_aws: ApiResources) -> None:
    answer = api_server.client().post("/v1/batches", json={"prefix": "a/"}, params={"name": "../x"})
    assert answer.status_code == 422, answer.text
    assert not any("x.batch.json" in key for key in request_keys(api_aws))


def test_batches_need_the_bearer_token(api_server: ApiServer, api_aws: ApiResources) -> None:
    before = request_keys(api_aws)
    anonymous = api_server.client(token=None)
    assert anonymous.post("/v1/batches", json={"prefix": "a/"}).status_code == 401
    assert anonymous.post("/v1/jobs/abc/resume").status_code == 401
    wrong = api_server.client(token="wrong-token-0123456789abcdef")
    assert wrong.post("/v1/batches", json={"prefix": "a/"}).status_code == 401
    assert request_keys(api_aws) == before


def test_a_viewer_session_cannot_post_a_batch(api_server: ApiServer, api_aws: ApiResources) -> None:
    login = api_server.client().post("/v1/login")
    assert login.status_code == 200, login.text
    session = login.cookies[SESSION_COOKIE]
    cookie_only = api_server.client(token=None)
    headers = {"Cookie": f"{SESSION_COOKIE}={session}"}
    assert cookie_only.get("/v1/jobs", headers=headers).status_code == 200  # the cookie reads
    answer = cookie_only.post("/v1/batches", json={"prefix": "a/"}, headers=headers)
    assert answer.status_code == 401  # but does not start jobs


# --- resume ---------------------------------------------------------------------------------------


def test_resume_of_an_unknown_job_is_404(api_server: ApiServer, api_aws: ApiResources) -> None:
    answer = api_server.client().post(f"/v1/jobs/{uuid.uuid4().hex}/resume")
    assert answer.status_code == 404
    assert "no job with id" in answer.json()["detail"]


def test_resume_of_a_partial_batch_writes_a_resume_request(
    api_server: ApiServer, api_aws: ApiResources
) -> None:
    job_id = batch_job(api_aws, JobStatus.PARTIAL)
    answer = api_server.client().post(f"/v1/jobs/{job_id}/resume")
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    assert accepted["job_id"] == job_id
    assert accepted["request_key"].startswith(f"batch/resume-{job_id}-")
    request, _ = read_request(api_aws, accepted["request_key"])
    assert request == BatchRequest(resume=job_id)


@pytest.mark.parametrize(
    ("status", "with_plan", "fragment"),
    [
        (JobStatus.SUCCEEDED, True, "only a job that ended PARTIAL or FAILED resumes"),
        (JobStatus.RUNNING, True, "is RUNNING"),
        (JobStatus.FAILED, False, "is not a batch or split job"),
    ],
)
def test_resume_refuses_what_cannot_resume(
    api_server: ApiServer, api_aws: ApiResources, status: JobStatus, with_plan: bool, fragment: str
) -> None:
    job_id = batch_job(api_aws, status, with_plan=with_plan)
    before = request_keys(api_aws)
    answer = api_server.client().post(f"/v1/jobs/{job_id}/resume")
    assert answer.status_code == 409, answer.text
    assert fragment in answer.json()["detail"]
    assert request_keys(api_aws) == before


def test_resume_of_a_one_video_job_is_409(api_server: ApiServer, api_aws: ApiResources) -> None:
    job = job_chain(api_aws).upload("incoming/one.mp4")  # the dispatcher's record of an upload
    answer = api_server.client().post(f"/v1/jobs/{job.job_id}/resume")
    assert answer.status_code == 409
    assert "not a batch or split job" in answer.json()["detail"]


# --- the parts in the job's detail -------------------------------------------------------------------


def test_job_detail_shows_the_parts(api_server: ApiServer, api_aws: ApiResources) -> None:
    job_id = batch_job(api_aws, JobStatus.PARTIAL)
    detail = api_server.client().get(f"/v1/jobs/{job_id}").json()
    parts = {part["part_id"]: part for part in detail["parts"]}
    assert list(parts) == ["a", "b", "c"]
    assert parts["a"]["state"] == "done" and parts["a"]["reason"] is None
    assert parts["b"]["state"] == "failed" and parts["b"]["reason"] == "DecodeError: no frames"
    assert parts["c"]["state"] == "pending"
    assert [part["job_id"] for part in parts.values()] == [f"{job_id}-000{i}" for i in (1, 2, 3)]
    assert all(part["status"] == "QUEUED" for part in parts.values())
    assert parts["c"]["video"] == f"s3://{api_aws.input_bucket}/clips/c.mp4"


def test_a_one_video_job_has_no_parts(api_server: ApiServer, api_aws: ApiResources) -> None:
    job = job_chain(api_aws).upload("incoming/single.mp4")
    detail = api_server.client().get(f"/v1/jobs/{job.job_id}").json()
    assert detail["parts"] is None


def test_the_openapi_document_describes_the_request_body(api_server: ApiServer) -> None:
    spec = httpx.get(f"{api_server.url}/openapi.json").json()
    body = spec["paths"]["/v1/batches"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]) == {
        "videos", "prefix", "resume", "mode", "image_format", "options", "instance_count", "split"
    }  # fmt: skip
    assert body["additionalProperties"] is False
    assert "202" in spec["paths"]["/v1/jobs/{job_id}/resume"]["post"]["responses"]
