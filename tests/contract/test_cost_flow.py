"""``reelsight estimate`` and ``reelsight status``'s cost line over jobs the real producers wrote (moto).

The worker's ``output_fn`` writes the answer with its receipt, the dispatcher and the results
Lambda record the job (tests/contract/job_chain.py), and the CLI reads the table as a deployed stack.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from reelsight import envvars
from reelsight.cli import main as cli_main
from reelsight.contract.jobs import JobRecord, JobStatus
from reelsight.contract.names import ASYNC_OUTPUT_PATH, s3_uri
from reelsight.contract.summary import RunSummary, Timings
from reelsight.testing.videos import WrittenVideo, write_not_a_video
from reelsight.worker.handler import output_fn
from tests.api.support import ApiResources
from tests.contract.job_chain import JobChain


@pytest.fixture()
def resources(resources: ApiResources, monkeypatch: pytest.MonkeyPatch) -> ApiResources:
    """The contract fixture's table and buckets, named where the CLI looks for them."""
    monkeypatch.setenv(envvars.INPUT_BUCKET, resources.input_bucket)
    monkeypatch.setenv(envvars.RESULTS_BUCKET, resources.results_bucket)
    monkeypatch.setenv(envvars.JOBS_TABLE, resources.table)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.delenv(envvars.PRICES, raising=False)
    return resources


def succeed(
    chain: JobChain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, model: str, total: float, frames: int
) -> JobRecord:
    """One upload, the worker's answer (output_fn on ml.g4dn.xlarge) and the results Lambda's record."""
    job = chain.upload(f"incoming/cost/{uuid.uuid4().hex[:6]}.mp4")
    summary = RunSummary(
        video={"duration": 60.0},
        model={"name": model},
        frames_sampled=frames,
        timings=Timings(total=total, decode=total / 4, inference=total / 2),
    )
    with monkeypatch.context() as worker_env:
        worker_env.setenv(envvars.INSTANCE_TYPE, "ml.g4dn.xlarge")
        body = output_fn(summary, tmp_path, job_id=job.job_id, store=None, max_response_bytes=10**6)
    key = f"{ASYNC_OUTPUT_PATH}/{uuid.uuid4()}.out"
    chain.s3.put_object(Bucket=chain.results_bucket, Key=key, Body=body)
    done = chain.complete_async(job, s3_uri(chain.results_bucket, key))
    assert done.status is JobStatus.SUCCEEDED
    return done


def estimate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli_main(["estimate", *args, "--target", "aws"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_estimate_uses_the_default_figures_until_jobs_complete_then_theirs(
    chain: JobChain,
    clip_5s: WrittenVideo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    video = str(clip_5s.path)
    code, out, err = estimate(capsys, video, "--model", "fasterrcnn", "--fps", "2", "--json")
    assert code == 0, err
    first = json.loads(out)
    assert (
        first["basis"] == "reelsight's default figures (no completed jobs yet)" and first["basis_jobs"] == 0
    )
    assert (first["frames"], first["instance_type"], first["region"]) == (10, "ml.g4dn.xlarge", "us-east-1")
    assert first["seconds_per_frame"] == 0.15 and first["worker_seconds"] == pytest.approx(1.5)

    succeed(chain, tmp_path, monkeypatch, model="fasterrcnn", total=6.0, frames=3)  # 2 s per frame
    succeed(chain, tmp_path, monkeypatch, model="fasterrcnn", total=2.0, frames=1)  # 2 s per frame
    succeed(chain, tmp_path, monkeypatch, model="ssdlite", total=1.0, frames=10)  # another model
    code, out, err = estimate(capsys, video, "--model", "fasterrcnn", "--fps", "2", "--json")
    assert code == 0, err
    measured = json.loads(out)
    assert (
        measured["basis"] == "2 completed fasterrcnn jobs on ml.g4dn.xlarge" and measured["basis_jobs"] == 2
    )
    assert measured["seconds_per_frame"] == pytest.approx(2.0) and measured[
        "worker_seconds"
    ] == pytest.approx(20.0)
    assert measured["cost"] == pytest.approx(0.7364 * 20.0 / 3600)

    code, out, err = estimate(capsys, video, "--model", "fasterrcnn", "--fps", "2")
    assert code == 0, err
    assert "expected worker time: 20.0 s (2.000 s per frame)" in out
    assert "basis: 2 completed fasterrcnn jobs on ml.g4dn.xlarge" in out
    assert "expected cost: $0.0041 at $0.7364/h" in out
    # Another instance type has no jobs of its own: the default figures, at its price.
    code, out, err = estimate(
        capsys, video, "--model", "fasterrcnn", "--instance-type", "ml.g5.xlarge", "--json"
    )
    assert code == 0, err
    other = json.loads(out)
    assert other["basis_jobs"] == 0 and other["price_per_hour"] == 1.4084 and other["frames"] == 5


def test_status_prints_the_jobs_cost_line(
    chain: JobChain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    done = succeed(chain, tmp_path, monkeypatch, model="maskrcnn", total=36.0, frames=36)
    assert done.summary is not None and done.summary["receipt"]["price_per_hour"] == 0.7364
    capsys.readouterr()
    assert cli_main(["status", done.job_id, "--target", "aws"]) == 0
    out = capsys.readouterr().out
    assert "cost: $0.0074 for 36.0 worker s on ml.g4dn.xlarge at $0.7364/h, $0.44 per video hour\n" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fps", "0"], "--fps must be in (0, 120]"),
        (["--fps", "-1"], "--fps must be in (0, 120]"),
        (["--fps", "1e6"], "--fps must be in (0, 120]"),
        (["--fps", "nan"], "--fps must be in (0, 120]"),
        (["--fps", "fast"], "--fps must be a number"),
        (["--model", "yolo9000"], "unknown model 'yolo9000'"),
        (["--instance-type", "ml.x9.huge"], "unknown instance type 'ml.x9.huge'"),
    ],
)
def test_estimate_refuses_bad_input_with_exit_2(
    resources: ApiResources,
    clip_5s: WrittenVideo,
    args: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = estimate(capsys, str(clip_5s.path), *args)
    assert code == 2 and message in err, err


def test_estimate_refuses_a_file_that_is_not_a_video(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "notes.mp4"
    write_not_a_video(path)
    code, _, err = estimate(capsys, str(path), "--no-jobs")
    assert code == 2 and "not a video" in err, err
    code, _, err = estimate(capsys, str(tmp_path / "missing.mp4"), "--no-jobs")
    assert code == 2 and "no such file" in err, err
