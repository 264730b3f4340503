"""`reelsight batch start | resume | status` through the real command line against the moto server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable

import boto3
import pytest

from lambdas.dispatch.dispatcher import dispatch
from lambdas.dispatch.records import ObjectEvent
from reelsight import envvars
from reelsight.contract.batch import BatchRequest, PartError, PartMarker, error_key, marker_key
from reelsight.contract.jobs import JobStatus, now_iso
from reelsight.contract.names import BATCH_PREFIX
from reelsight.testing.moto_server import MotoServer
from tests.api.batch_job import batch_job
from tests.api.support import ApiResources
from tests.contract.job_chain import VIDEO_BYTES, JobChain


@pytest.fixture(scope="module")
def stack(moto_server: MotoServer) -> ApiResources:
    """A deployed stack's table and buckets (on moto), the input bucket versioned as deployed."""
    suffix = uuid.uuid4().hex[:8]
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    resources = ApiResources(
        table=f"reelsight-cli-jobs-{suffix}",
        results_bucket=f"reelsight-cli-results-{suffix}",
        input_bucket=f"reelsight-cli-input-{suffix}",
        dynamodb=session.client("dynamodb", endpoint_url=moto_server.url),
        s3=session.client("s3", endpoint_url=moto_server.url),
    ).ensure()
    resources.s3.put_bucket_versioning(
        Bucket=resources.input_bucket, VersioningConfiguration={"Status": "Enabled"}
    )
    return resources


@pytest.fixture()
def env(moto_server: MotoServer, stack: ApiResources) -> dict[str, str]:
    environ = {**os.environ, **moto_server.client_env()}
    environ.pop("AWS_PROFILE", None)
    environ.update(
        {
            envvars.INPUT_BUCKET: stack.input_bucket,
            envvars.RESULTS_BUCKET: stack.results_bucket,
            envvars.JOBS_TABLE: stack.table,
        }
    )
    return environ


def cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reelsight", "batch", *args, "--target", "aws"],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def read_request(stack: ApiResources, key: str) -> BatchRequest:
    body = stack.s3.get_object(Bucket=stack.input_bucket, Key=key)["Body"].read()
    return BatchRequest.from_json(body)


def request_keys(stack: ApiResources) -> list[str]:
    listed = stack.s3.list_objects_v2(Bucket=stack.input_bucket, Prefix=BATCH_PREFIX)
    return sorted(obj["Key"] for obj in listed.get("Contents", []))


def test_start_writes_the_request_and_prints_the_job_id(env: dict[str, str], stack: ApiResources) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    result = cli(
        env, "start", "s3://videos/a.mp4", "clips/b.mp4", "--mode", "frames", "--image-format", "png",
        "--fps", "2", "--size", "640x360", "--model", "ssdlite", "--sampling-mode", "keyframes",
        "--param", "score_threshold=0.4", "--instances", "2", "--name", name,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    key = f"batch/{name}.batch.json"
    assert f"s3://{stack.input_bucket}/{key}" in result.stdout
    assert read_request(stack, key) == BatchRequest(
        videos=("s3://videos/a.mp4", "clips/b.mp4"),
        mode="frames",
        image_format="png",
        options={
            "fps": "2", "size": "640x360", "model": "ssdlite", "mode": "keyframes", "score_threshold": "0.4"
        },
        instance_count=2,
    )  # fmt: skip
    from reelsight.contract.jobids import job_id_for, object_version

    version = stack.s3.head_object(Bucket=stack.input_bucket, Key=key)["VersionId"]
    expected = job_id_for(stack.input_bucket, key, object_version(version, None))
    assert f"job id: {expected}" in result.stdout


def test_start_a_split_job(env: dict[str, str], stack: ApiResources) -> None:
    name = f"split-{uuid.uuid4().hex[:8]}"
    result = cli(env, "start", "long/match.mkv", "--split", "--instances", "4", "--name", name)
    assert result.returncode == 0, result.stderr
    assert read_request(stack, f"batch/{name}.batch.json") == BatchRequest(
        videos=("long/match.mkv",), split=True, instance_count=4
    )


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ([], "name the videos"),
        (["a.mp4", "--prefix", "clips/"], "either VIDEO arguments or --prefix"),
        (["--prefix", "clips/", "--split"], "--split cuts one video by time"),
        (["a.mp4", "b.mp4", "--split"], "split cuts one video by time"),
        (["a.mp4", "--instances", "0"], "instance_count must be 1..100"),
        (["a.mp4", "--include", "masks,preview"], "must not contain ','"),
        (["a.mp4", "--param", "fps"], "--param expects KEY=VALUE"),
        (["a.mp4", "--name", "../up"], "a batch request name is"),
        (["a.mp4", "--fps", "2", "--every-seconds", "3"], "not allowed with argument"),
        (["a.mp4", "--mode", "paint"], "invalid choice"),
    ],
)
def test_bad_starts_are_clear_errors(
    env: dict[str, str], stack: ApiResources, args: list[str], fragment: str
) -> None:
    before = request_keys(stack)
    result = cli(env, "start", *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr
    assert request_keys(stack) == before


def test_resume_of_an_unknown_job(env: dict[str, str]) -> None:
    result = cli(env, "resume", uuid.uuid4().hex)
    assert result.returncode == 2
    assert "no job" in result.stderr


def test_resume_refuses_a_succeeded_job(env: dict[str, str], stack: ApiResources) -> None:
    job_id = batch_job(stack, JobStatus.SUCCEEDED)
    result = cli(env, "resume", job_id)
    assert result.returncode == 2
    assert "only a job that ended PARTIAL or FAILED resumes" in result.stderr


def test_status_shows_the_parts(env: dict[str, str], stack: ApiResources) -> None:
    job_id = batch_job(stack, JobStatus.PARTIAL)
    result = cli(env, "status", job_id)
    assert result.returncode == 0, result.stderr
    assert "parts            1/3 done, 1 failed, 1 pending" in result.stdout
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith("  ")}
    assert rows["a"].split()[1] == "done"
    assert rows["b"].split()[1] == "failed" and rows["b"].endswith("DecodeError: no frames")
    assert rows["c"].split()[1] == "pending" and f"{job_id}-0003 QUEUED" in rows["c"]
    as_json = json.loads(cli(env, "status", job_id, "--json").stdout)
    assert as_json["job"]["status"] == "PARTIAL"
    assert [(p["part_id"], p["state"]) for p in as_json["parts"]] == [
        ("a", "done"), ("b", "failed"), ("c", "pending")
    ]  # fmt: skip


def test_status_of_an_unknown_job(env: dict[str, str]) -> None:
    result = cli(env, "status", uuid.uuid4().hex)
    assert result.returncode == 1
    assert "no job" in result.stderr


def test_wait_times_out_with_its_exit_code(env: dict[str, str], stack: ApiResources) -> None:
    job_id = batch_job(stack, JobStatus.FAILED)  # no dispatcher acts on the resume request
    result = cli(env, "resume", job_id, "--wait", "--interval", "0.2", "--timeout", "1")
    assert result.returncode == 6, result.stdout + result.stderr
    assert "did not finish within 1s" in result.stderr


def test_the_dispatcher_starts_the_job_the_cli_names(env: dict[str, str], stack: ApiResources) -> None:
    """The seam: the job id `batch start` prints is the one the dispatcher gives the request."""
    folder = f"library/clips-{uuid.uuid4().hex[:8]}/"
    for name in ("a.mp4", "b.mov", "notes.txt"):
        stack.s3.put_object(Bucket=stack.input_bucket, Key=folder + name, Body=VIDEO_BYTES)
    name = f"seam-{uuid.uuid4().hex[:8]}"
    result = cli(env, "start", "--prefix", folder, "--instances", "2", "--fps", "1", "--name", name)
    assert result.returncode == 0, result.stderr
    printed = result.stdout.split("job id: ", 1)[1].split()[0]
    key = f"batch/{name}.batch.json"
    head = stack.s3.head_object(Bucket=stack.input_bucket, Key=key)
    event = ObjectEvent(
        bucket=stack.input_bucket,
        key=key,
        event_name="ObjectCreated:Put",
        size=int(head["ContentLength"]),
        etag=str(head["ETag"]).strip('"'),
        version_id=head["VersionId"],
        sequencer="0A1B2C3D4E5F6071",
        event_time=now_iso(),
    )
    chain = JobChain.on_moto(
        stack.s3.meta.endpoint_url,
        jobs_table=stack.table,
        input_bucket=stack.input_bucket,
        results_bucket=stack.results_bucket,
    )
    outcome = dispatch(event, settings=chain.settings(), clients=chain.clients(), environ={})
    assert outcome.job_id == printed, outcome
    status = cli(env, "status", printed)
    assert status.returncode == 0, status.stderr
    assert "kind             batch" in status.stdout
    assert "parts            0/2 done, 2 pending" in status.stdout
    assert f"{printed}-0001" in status.stdout and f"{printed}-0002" in status.stdout


class Stack:
    """The dispatcher, the hosts and the results handler of the job: the real dispatcher and results
    handler (on moto), and the hosts' part files as the contract writes them."""

    def __init__(self, stack: ApiResources) -> None:
        self.resources = stack
        self.chain = JobChain.on_moto(
            stack.s3.meta.endpoint_url,
            jobs_table=stack.table,
            input_bucket=stack.input_bucket,
            results_bucket=stack.results_bucket,
        )

    def dispatch(self, key: str) -> str:
        s3 = self.resources.s3
        head = s3.head_object(Bucket=self.resources.input_bucket, Key=key)
        event = ObjectEvent(
            bucket=self.resources.input_bucket,
            key=key,
            event_name="ObjectCreated:Put",
            size=int(head["ContentLength"]),
            etag=str(head["ETag"]).strip('"'),
            version_id=head["VersionId"],
            sequencer=uuid.uuid4().hex[:16].upper(),
            event_time=now_iso(),
        )
        outcome = dispatch(event, settings=self.chain.settings(), clients=self.chain.clients(), environ={})
        assert outcome.job_id, outcome
        return outcome.job_id

    def wait_for_request(self, fragment: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [key for key in request_keys(self.resources) if fragment in key]
            if found:
                return found[0]
            time.sleep(0.1)
        raise AssertionError(f"no request {fragment} was written")

    def run_attempt(self, job_id: str, *, done: list[str], failed: list[str], attempt: int) -> None:
        self.chain.processing_started(self.chain.job(job_id))
        for part in done:
            time.sleep(0.5)
            marker = PartMarker(
                part_id=part, status="ok", frames=4, seconds=1.0, host="algo-1", attempt=attempt
            )
            self.put(marker_key(job_id, part), marker.to_json())
        for part in failed:
            error = PartError(
                part_id=part,
                video=part,
                type="DecodeError",
                message="no frames",
                host="algo-2",
                attempt=attempt,
            )
            self.put(error_key(job_id, part), error.to_json())
        time.sleep(0.5)
        self.chain.processing_state(self.chain.job(job_id), "Completed")

    def put(self, key: str, body: str) -> None:
        self.resources.s3.put_object(Bucket=self.resources.results_bucket, Key=key, Body=body.encode())


def in_background(work: Callable[[], None]) -> Callable[[], None]:
    """Run ``work`` in a thread; the returned join re-raises what it raised."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as error:  # re-raised in the test's thread
            errors.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def join() -> None:
        thread.join(timeout=60)
        if errors:
            raise errors[0]

    return join


def test_start_wait_then_resume_wait_through_the_real_dispatcher(
    env: dict[str, str], stack: ApiResources
) -> None:
    folder = f"library/day-{uuid.uuid4().hex[:8]}/"
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        stack.s3.put_object(Bucket=stack.input_bucket, Key=folder + name, Body=VIDEO_BYTES)
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    real = Stack(stack)
    job: list[str] = []

    def first_attempt() -> None:
        job.append(real.dispatch(real.wait_for_request(f"batch/{name}.batch.json")))
        real.run_attempt(job[0], done=["a", "c"], failed=["b"], attempt=1)

    join = in_background(first_attempt)
    started = cli(env, "start", "--prefix", folder, "--instances", "2", "--name", name, "--wait",
                  "--interval", "0.2", "--timeout", "60", timeout=90)  # fmt: skip
    join()
    assert started.returncode == 1, started.stdout + started.stderr  # it ended PARTIAL
    assert f"job {job[0]}: PARTIAL" in started.stdout
    assert "parts: 2/3 done, 1 failed" in started.stdout
    assert "DecodeError: no frames" in started.stdout

    def second_attempt() -> None:
        key = real.wait_for_request(f"batch/resume-{job[0]}-")
        real.dispatch(key)
        real.run_attempt(job[0], done=["b"], failed=[], attempt=2)

    join = in_background(second_attempt)
    resumed = cli(env, "resume", job[0], "--wait", "--interval", "0.2", "--timeout", "60", timeout=90)
    join()
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"job {job[0]}: SUCCEEDED" in resumed.stdout
    assert "parts: 3/3 done" in resumed.stdout
    assert "status: PARTIAL" not in resumed.stdout  # the first attempt's end is not this one's


def test_a_rejected_resume_ends_the_wait(env: dict[str, str], stack: ApiResources) -> None:
    job_id = batch_job(stack, JobStatus.PARTIAL)
    real = Stack(stack)
    for part in ("b", "c"):  # every part finished after all: nothing to resume
        real.put(marker_key(job_id, part), PartMarker(part_id=part, status="ok", frames=1, seconds=1.0,
                                                      host="algo-1").to_json())  # fmt: skip
    join = in_background(
        lambda: [real.dispatch(real.wait_for_request(f"batch/resume-{job_id}-"))][0] and None
    )
    result = cli(env, "resume", job_id, "--wait", "--interval", "0.2", "--timeout", "60", timeout=90)
    join()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "REJECTED" in result.stdout
    assert "nothing to resume" in result.stdout
