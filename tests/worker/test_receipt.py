"""The worker prices every run it answers: the async answer body and a Processing job's summary.json."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from reelsight import envvars
from reelsight.contract.cost import OVERRIDE_SOURCE, PRICE_SOURCE
from reelsight.contract.summary import RunSummary
from reelsight.params import RunOptions, SamplingParams
from reelsight.testing.videos import WrittenVideo, write_video
from reelsight.worker.handler import output_fn
from reelsight.worker.processing import ProcessSettings, run_job

OPTIONS = RunOptions(model="ssdlite", weights="random", device="cpu", sampling=SamplingParams(fps=2.0))


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> WrittenVideo:
    return write_video(
        tmp_path_factory.mktemp("receipt") / "tiny.mp4", seconds=2, fps=10, width=160, height=120
    )


def _schema(repo_root: Path) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        json.loads((repo_root / "docs/schema/summary.schema.json").read_text())
    )


def test_the_async_answer_carries_the_receipt_of_the_real_run(
    tiny_clip: WrittenVideo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, repo_root: Path
) -> None:
    from reelsight.pipeline import run_video

    monkeypatch.setenv(envvars.INSTANCE_TYPE, "ml.g5.xlarge")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.delenv(envvars.PRICES, raising=False)
    summary = run_video(tiny_clip.path, options=OPTIONS, out_dir=tmp_path)
    body = json.loads(output_fn(summary, tmp_path, job_id="j", store=None, max_response_bytes=10**6))
    assert list(_schema(repo_root).iter_errors(body)) == []
    receipt = body["receipt"]
    assert (receipt["instance_type"], receipt["region"]) == ("ml.g5.xlarge", "us-east-1")
    assert (receipt["price_per_hour"], receipt["price_source"]) == (1.4084, PRICE_SOURCE)
    assert receipt["frames"] == body["frames_sampled"] == 4
    assert (
        receipt["video_seconds"] == pytest.approx(body["video"]["duration"]) and receipt["video_seconds"] > 0
    )
    assert receipt["worker_seconds"]["total"] == body["timings"]["total"] > 0
    assert receipt["worker_seconds"]["model_load"] == body["timings"]["model_load"] > 0  # loaded for this run
    assert receipt["cost"] == pytest.approx(1.4084 * receipt["worker_seconds"]["total"] / 3600)
    assert receipt["cost_per_video_hour"] == pytest.approx(receipt["cost"] * 3600 / receipt["video_seconds"])
    assert RunSummary.from_output(body).short().to_json()["receipt"] == receipt


def test_each_processing_summary_carries_its_receipt(
    tiny_clip: WrittenVideo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, repo_root: Path
) -> None:
    input_dir = tmp_path / "input"
    input_dir.mkdir()
    (input_dir / "tiny.mp4").write_bytes(tiny_clip.path.read_bytes())
    monkeypatch.setenv(envvars.INSTANCE_TYPE, "ml.g4dn.xlarge")
    monkeypatch.setenv(envvars.PRICES, '{"ml.g4dn.xlarge":0.8}')
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    settings = ProcessSettings(
        input_dir=input_dir,
        output_dir=tmp_path / "output",
        message_file=tmp_path / "message",
        options=OPTIONS,
    )
    assert run_job(settings) == 0
    written = json.loads((tmp_path / "output" / "tiny" / "summary.json").read_text())
    assert list(_schema(repo_root).iter_errors(written)) == []
    receipt = written["receipt"]
    assert (receipt["price_per_hour"], receipt["price_source"]) == (0.8, OVERRIDE_SOURCE)
    assert receipt["region"] == "eu-west-1" and receipt["frames"] == written["frames_sampled"] == 4
    assert receipt["cost"] == pytest.approx(0.8 * written["timings"]["total"] / 3600)
