"""Pure logic of the worker: sharding, naming, body streaming, request options, model lookup, output."""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from reelsight.errors import ModelError, ParamError, UnsupportedMediaError, VideoError
from reelsight.params import RunOptions
from reelsight.results import Detections, FrameResult, FramesWriter, RunSummary, mask_to_rle
from reelsight.worker import handler
from reelsight.worker.handler import LoadedModel, SerializedPredictor
from reelsight.worker.processing import (
    HostInfo,
    list_videos,
    output_names,
    read_resource_config,
    shard,
)

# --- sharding and naming -----------------------------------------------------------------------------------


@pytest.mark.parametrize("hosts", [1, 2, 3, 4, 7])
def test_shards_are_disjoint_and_complete(hosts: int) -> None:
    videos = [Path(f"v{i:02d}.mp4") for i in range(10)]
    shares = [shard(videos, i, hosts) for i in range(hosts)]
    flat = [v for share in shares for v in share]
    assert sorted(flat) == videos
    assert len(flat) == len(set(flat))
    assert all(abs(len(a) - len(b)) <= 1 for a in shares for b in shares)


def test_shard_rejects_bad_index() -> None:
    with pytest.raises(ParamError):
        shard([Path("a.mp4")], 2, 2)


def test_host_index_follows_sorted_host_names(tmp_path: Path) -> None:
    path = tmp_path / "resourceconfig.json"
    path.write_text(json.dumps({"current_host": "algo-2", "hosts": ["algo-2", "algo-1", "algo-3"]}))
    info = read_resource_config(path)
    assert (info.index, info.count) == (1, 3)
    assert read_resource_config(tmp_path / "missing.json") == HostInfo()
    path.write_text(json.dumps({"current_host": "algo-9", "hosts": ["algo-1"]}))
    with pytest.raises(ParamError, match="algo-9"):
        read_resource_config(path)


def test_list_videos_recursive_sorted_and_filtered(tmp_path: Path) -> None:
    for rel in ["b.mp4", "a/c.MOV", "a/notes.txt", "z/d.mkv", "a/b/e.webm"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    assert [p.as_posix() for p in list_videos(tmp_path)] == ["a/b/e.webm", "a/c.MOV", "b.mp4", "z/d.mkv"]
    with pytest.raises(ParamError, match="does not exist"):
        list_videos(tmp_path / "nope")


def test_output_names_disambiguate_equal_stems() -> None:
    videos = [Path("x/clip.mp4"), Path("y/clip.mp4"), Path("clip.mov"), Path("other.mp4")]
    names = output_names(videos)
    assert len(set(names.values())) == len(videos)
    assert names[Path("other.mp4")] == "other"
    assert names[Path("x/clip.mp4")] == "x__clip_mp4"
    assert all("/" not in n for n in names.values())


# --- input_fn ----------------------------------------------------------------------------------------------


def test_content_type_check() -> None:
    assert handler.check_content_type("video/mp4") == ".mp4"
    assert handler.check_content_type("video/quicktime; charset=binary") == ".mov"
    assert handler.check_content_type(None) == ".bin"
    assert handler.check_content_type("application/octet-stream") == ".bin"
    with pytest.raises(UnsupportedMediaError, match="application/json"):
        handler.check_content_type("application/json")


async def _pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    """The body as the HTTP server hands it over: decoded pieces of ``size`` bytes."""
    for i in range(0, len(data), size):
        yield data[i : i + size]


def _input(data: bytes, size: int, work_dir: Path, **kwargs: Any) -> Path:
    arguments: dict[str, Any] = {"content_length": len(data), "chunked": False, "content_type": "video/mp4"}
    arguments.update(kwargs)
    return asyncio.run(
        handler.input_fn(
            _pieces(data, size), work_dir=work_dir, max_bytes=arguments.pop("max_bytes", 10**7), **arguments
        )
    )


def test_input_fn_streams_fixed_and_chunked_bodies(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000
    fixed = _input(data, 65536, tmp_path)
    assert fixed.read_bytes() == data and fixed.suffix == ".mp4"
    (tmp_path / "c").mkdir()
    chunked = _input(data, 70001, tmp_path / "c", content_length=None, chunked=True, content_type=None)
    assert chunked.read_bytes() == data and chunked.suffix == ".bin"


@pytest.mark.parametrize(
    ("body", "length", "chunked", "error", "status"),
    [
        (b"x" * 100, 100, False, handler.PayloadTooLarge, 413),
        (b"x" * 100, None, True, handler.PayloadTooLarge, 413),
        (b"x" * 10, 20, False, handler.RequestError, 400),
        (b"", None, False, handler.LengthRequired, 411),
        (b"", 0, False, VideoError, 422),
    ],
)
def test_input_fn_rejects(
    tmp_path: Path, body: bytes, length: int | None, chunked: bool, error: type, status: int
) -> None:
    with pytest.raises(error) as info:
        _input(body, 30, tmp_path, content_length=length, chunked=chunked, content_type=None, max_bytes=50)
    assert handler.http_status_of(info.value) == status


def test_input_fn_stops_a_chunked_body_at_the_bound(tmp_path: Path) -> None:
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        while True:
            sent += 4096
            yield b"x" * 4096

    with pytest.raises(handler.PayloadTooLarge):
        asyncio.run(
            handler.input_fn(
                endless(),
                content_length=None,
                chunked=True,
                content_type=None,
                work_dir=tmp_path,
                max_bytes=10**5,
            )
        )
    assert sent <= 10**5 + 4096  # read no further than the bound
    assert (tmp_path / "input.bin").stat().st_size <= 10**5


# --- request options ---------------------------------------------------------------------------------------


def _loaded() -> LoadedModel:
    options = RunOptions(model="ssdlite", weights="random", device="cpu")
    return LoadedModel(predictor=None, options=options, source="random")


def test_request_options_overrides_and_job_id() -> None:
    model = _loaded()
    req = handler.request_options(
        model, "fps=2,mode=keyframes,job_id=abc-1,video_uri=s3://b/k.mp4", "ignored"
    )
    assert req.options.sampling.fps == 2.0 and req.options.sampling.mode == "keyframes"
    assert (req.job_id, req.video_uri) == ("abc-1", "s3://b/k.mp4")
    assert handler.request_options(model, None, "inf-7").job_id == "inf-7"
    assert len(handler.request_options(model, "", None).job_id) == 32
    # an alias of the loaded model is the loaded model
    assert (
        handler.request_options(model, "model=ssdlite320_mobilenet_v3_large", None).options.model == "ssdlite"
    )


@pytest.mark.parametrize(
    ("attributes", "match"),
    [
        ("model=maskrcnn", "one model per endpoint"),
        ("device=cuda", "device is fixed"),
        ("weights=pretrained", "weights is fixed"),
        ("fps=abc", "fps"),
        ("colour=red", "unknown parameter"),
        ("job_id=../../etc", "job_id"),
        ("fps", "key=value"),
    ],
)
def test_request_options_rejects(attributes: str, match: str) -> None:
    with pytest.raises(ParamError, match=match):
        handler.request_options(_loaded(), attributes, None)


# --- model_fn ----------------------------------------------------------------------------------------------


class FakeLoader:
    """Records what model_fn asks for, and what the weights file holds at load time."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], dict[str, bytes] | bytes | None]] = []

    def __call__(self, name: str, **kwargs: Any) -> Any:
        weights = Path(kwargs["weights"])
        content: dict[str, bytes] | bytes | None = None
        if weights.name.endswith((".tar", ".tar.gz")):
            with tarfile.open(weights) as tar:
                content = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
        elif weights.is_file():
            content = weights.read_bytes()
        self.calls.append((name, kwargs, content))
        return type("P", (), {"spec": type("S", (), {"name": name})()})()


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_model_fn_order_of_sources(tmp_path: Path) -> None:
    loader = FakeLoader()
    defaults = RunOptions(model="ssdlite")
    empty = tmp_path / "empty"
    empty.mkdir()
    handler.model_fn(empty, defaults, weights_from_env=False, loader=loader)
    assert loader.calls[-1][1]["weights"] == "pretrained"
    handler.model_fn(tmp_path / "absent", defaults, weights_from_env=False, loader=loader)
    assert loader.calls[-1][1]["weights"] == "pretrained"

    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "weights.pt").write_bytes(b"sd")
    loaded = handler.model_fn(plain, defaults, weights_from_env=False, loader=loader)
    assert loader.calls[-1][0] == "ssdlite" and loader.calls[-1][2] == b"sd"
    assert loaded.options.weights == str(plain / "weights.pt")

    handler.model_fn(
        plain, RunOptions(model="ssdlite", weights="random"), weights_from_env=True, loader=loader
    )
    assert loader.calls[-1][1]["weights"] == "random"

    packed = tmp_path / "packed"
    packed.mkdir()
    archive = _tar(packed / "model.tar.gz", {"model.pth": b"w", "config.json": b"{}"})
    handler.model_fn(packed, defaults, weights_from_env=False, loader=loader)
    assert loader.calls[-1][0] == "ssdlite" and loader.calls[-1][1]["weights"] == str(archive)
    # the archive's config.json names the model it holds, so it is built for that model
    _tar(packed / "model.tar.gz", {"model.pth": b"w", "config.json": b'{"model": "fasterrcnn"}'})
    handler.model_fn(packed, defaults, weights_from_env=False, loader=loader)
    assert loader.calls[-1][0] == "fasterrcnn"


def test_model_fn_bundles_an_extracted_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.pth").write_bytes(b"weights!")
    (model_dir / "config.json").write_text(json.dumps({"model": "fasterrcnn"}))
    loader = FakeLoader()
    loaded = handler.model_fn(model_dir, RunOptions(model="ssdlite"), weights_from_env=False, loader=loader)
    assert loader.calls[0][2] == {"model.pth": b"weights!", "config.json": b'{"model": "fasterrcnn"}'}
    assert loaded.options.weights == str(model_dir)
    assert list((tmp_path / "tmp").iterdir()) == []  # the bundle is gone once loaded


def test_model_fn_errors(tmp_path: Path) -> None:
    two = tmp_path / "two"
    two.mkdir()
    (two / "a.pt").write_bytes(b"1")
    (two / "b.pth").write_bytes(b"2")
    with pytest.raises(ModelError, match="a.pt, b.pth"):
        handler.model_fn(two, RunOptions(), weights_from_env=False, loader=FakeLoader())
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    (lonely / "config.json").write_text("{}")
    with pytest.raises(ModelError, match="no model.pth"):
        handler.model_fn(lonely, RunOptions(), weights_from_env=False, loader=FakeLoader())


# --- the predictor lock and the hold hook ------------------------------------------------------------------


class SlowPredictor:
    def __init__(self) -> None:
        self.active = 0
        self.max_active = 0
        self.calls = 0
        self._lock = threading.Lock()

    def predict(self, frames: list[Any], *, with_masks: bool = True) -> list[Any]:
        with self._lock:
            self.active += 1
            self.calls += 1
            self.max_active = max(self.max_active, self.active)
        time.sleep(0.05)
        with self._lock:
            self.active -= 1
        return []


def test_serialized_predictor_takes_turns_and_holds(tmp_path: Path) -> None:
    inner = SlowPredictor()
    hold = tmp_path / "hold"
    hold.touch()
    wrapped = SerializedPredictor(inner, hold)
    threads = [threading.Thread(target=wrapped.predict, args=([],)) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    assert inner.calls == 0  # held while the file exists
    hold.unlink()
    for t in threads:
        t.join(10)
    assert inner.calls == 4 and inner.max_active == 1


# --- output_fn ---------------------------------------------------------------------------------------------


def _write_run(out_dir: Path, frames: int, with_masks: bool = True) -> RunSummary:
    """``frames`` results through the real FramesWriter, and the summary run_video makes of its totals."""
    mask = np.zeros((480, 640), bool)
    mask[40:240, 80:360] = True
    mask[280:400, 20:600] = True
    with FramesWriter(out_dir / "frames.jsonl") as writer:
        for i in range(frames):
            det = Detections(
                xyxy=np.array([[80, 40, 360, 240]] * 3, np.float32),
                labels=np.array([1, 3, 3]),
                scores=np.array([0.9, 0.8, 0.7], np.float32),
                class_names=["person", "car", "car"],
                masks=[mask_to_rle(np.roll(mask, i + k, axis=1)) for k in range(3)] if with_masks else None,
            )
            writer.write(
                FrameResult(frame_index=i * 30, timestamp=float(i), width=640, height=480, detections=det)
            )
    (out_dir / "contact_sheet.png").write_bytes(b"png")
    return RunSummary(
        frames_sampled=writer.frames_written,
        detections_total=writer.detections_total,
        counts_per_class=dict(writer.counts_per_class),
        artifacts={"frames": "frames.jsonl", "summary": "summary.json", "contact_sheet": "contact_sheet.png"},
    )


def _output_fn_traced(out_dir: Path, frames: int) -> tuple[bytes, int]:
    """output_fn's body for a run of ``frames`` frames, and the peak memory it allocated meanwhile."""
    import tracemalloc

    summary = _write_run(out_dir, frames)
    tracemalloc.start()
    try:
        body = handler.output_fn(summary, out_dir, job_id="j", store=None, max_response_bytes=10**6)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return body, peak


def test_output_fn_memory_and_body_do_not_grow_with_the_frames(tmp_path: Path) -> None:
    (tmp_path / "few").mkdir()
    (tmp_path / "many").mkdir()
    few, few_peak = _output_fn_traced(tmp_path / "few", 10)
    many, many_peak = _output_fn_traced(tmp_path / "many", 1000)
    jsonl = (tmp_path / "many" / "frames.jsonl").stat().st_size
    print(f"frames.jsonl {jsonl} B; body {len(few)} / {len(many)} B; peak {few_peak} / {many_peak} B")
    assert jsonl > 1_000_000
    # The counts gain digits (10 -> 1000 frames, 30 -> 3000 detections, and the receipt's frames);
    # nothing else changes.
    assert len(many) - len(few) <= 10
    assert json.loads(many)["frames_sampled"] == 1000 and "frames" not in json.loads(many)
    # output_fn never reads frames.jsonl: 1000 frames (a megabyte and more) cost what 10 do.
    assert many_peak < few_peak + 64 * 1024


def test_output_fn_without_a_store_answers_the_summary_and_says_nothing_was_kept(tmp_path: Path) -> None:
    summary = _write_run(tmp_path, 4)
    body = json.loads(handler.output_fn(summary, tmp_path, job_id="j", store=None, max_response_bytes=10**6))
    assert RunSummary.from_output(body).frames_sampled == 4 and "frames" not in body
    assert body["artifacts"] == {}
    [warning] = body["warnings"]
    assert "frames.jsonl" in warning and "REELSIGHT_ARTIFACT_BUCKET" in warning


def test_output_fn_keeps_only_the_first_warnings_of_a_huge_body(tmp_path: Path) -> None:
    summary = _write_run(tmp_path, 2)
    summary.warnings = [f"warning {i}: " + "x" * 100 for i in range(50)]
    body = json.loads(handler.output_fn(summary, tmp_path, job_id="j", store=None, max_response_bytes=2000))
    assert body["warnings"][:5] == [f"warning {i}: " + "x" * 100 for i in range(5)]
    assert body["warnings"][5:] == ["46 more warnings left out"]  # 50 + the "not kept" one, 5 shown


def test_output_fn_uploads_artifacts_and_answers_the_uploaded_summary(tmp_path: Path, aws_env: Any) -> None:
    import boto3

    from reelsight.worker.artifacts import ArtifactStore

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="unit-artifacts")
    summary = _write_run(tmp_path, 3)
    written = (tmp_path / "frames.jsonl").read_bytes()
    body = handler.output_fn(
        summary,
        tmp_path,
        job_id="job-9",
        store=ArtifactStore("unit-artifacts", "jobs/"),
        max_response_bytes=10**6,
    )
    answer = json.loads(body)
    artifacts = answer["artifacts"]
    assert artifacts["contact_sheet"] == "s3://unit-artifacts/jobs/job-9/artifacts/contact_sheet.png"
    assert artifacts["frames"] == "s3://unit-artifacts/jobs/job-9/artifacts/frames.jsonl"
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="unit-artifacts")["Contents"]}
    assert keys == {
        f"jobs/job-9/artifacts/{n}" for n in ("contact_sheet.png", "frames.jsonl", "summary.json")
    }
    stored = s3.get_object(Bucket="unit-artifacts", Key="jobs/job-9/artifacts/summary.json")["Body"].read()
    assert json.loads(stored) == answer and "frames" not in answer
    assert (
        s3.get_object(Bucket="unit-artifacts", Key="jobs/job-9/artifacts/frames.jsonl")["Body"].read()
        == written
    )


def test_processing_fits_frames_for_models_that_do_not_resize_themselves(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from reelsight import envvars
    from reelsight.worker.processing import settings_from_environment

    def sampling(**env: str):  # type: ignore[no-untyped-def]
        environ = {
            envvars.RESOURCE_CONFIG: str(tmp_path / "none.json"),
            envvars.JOB_CONFIG: str(tmp_path / "none.json"),
            **env,
        }
        settings = settings_from_environment(
            environ, overrides={}, input_dir=str(tmp_path), output_dir=str(tmp_path)
        )
        return settings.options.sampling

    deeplab = sampling(**{envvars.MODEL: "deeplabv3_mobilenet_v3"})
    assert (deeplab.resize, deeplab.size) == ("fit", (520, 520))
    detector = sampling(**{envvars.MODEL: "maskrcnn"})
    assert (detector.resize, detector.size) == ("none", None)
    chosen = sampling(**{envvars.MODEL: "deeplabv3_mobilenet_v3", envvars.RESIZE: "none"})
    assert chosen.resize == "none"
    mxnet = sampling(**{envvars.MODEL: "deeplab_resnet101_citys"})
    assert mxnet.resize == "none"


@pytest.mark.parametrize("text", ["nan", "-1", "0", "inf", "soon"])
def test_processing_progress_interval_is_a_bounded_number_of_seconds(tmp_path: Path, text: str) -> None:
    from reelsight import envvars
    from reelsight.worker.processing import settings_from_environment

    environ = {
        envvars.RESOURCE_CONFIG: str(tmp_path / "none.json"),
        envvars.JOB_CONFIG: str(tmp_path / "none.json"),
    }
    kwargs = {"overrides": {}, "input_dir": str(tmp_path), "output_dir": str(tmp_path)}
    assert settings_from_environment(environ, **kwargs).progress_interval == 2.0
    environ[envvars.PROGRESS_INTERVAL] = "0.5"
    assert settings_from_environment(environ, **kwargs).progress_interval == 0.5
    environ[envvars.PROGRESS_INTERVAL] = text
    with pytest.raises(ParamError, match=envvars.PROGRESS_INTERVAL):
        settings_from_environment(environ, **kwargs)


# --- serve's settings --------------------------------------------------------------------------------------


def test_serve_limits_come_from_the_environment(tmp_path: Path) -> None:
    from reelsight import envvars
    from reelsight.worker.config import ServeConfig

    defaults = ServeConfig.from_env({})
    assert (defaults.read_timeout, defaults.body_timeout, defaults.max_connections) == (30.0, 900.0, 64)
    assert defaults.shutdown_grace == 30.0 and defaults.temp_root == Path(tempfile.gettempdir())
    config = ServeConfig.from_env(
        {
            envvars.READ_TIMEOUT_SECONDS: "2.5",
            envvars.BODY_TIMEOUT_SECONDS: "60",
            envvars.MAX_CONNECTIONS: "8",
            envvars.SHUTDOWN_GRACE_SECONDS: "1",
            envvars.TEMP_DIR: str(tmp_path),
        }
    )
    assert (config.read_timeout, config.body_timeout, config.max_connections) == (2.5, 60.0, 8)
    assert config.shutdown_grace == 1.0 and config.temp_root == tmp_path
    for name, value in [
        (envvars.READ_TIMEOUT_SECONDS, "0"),
        (envvars.BODY_TIMEOUT_SECONDS, "nan"),
        (envvars.MAX_CONNECTIONS, "1"),
    ]:
        with pytest.raises(ParamError, match=name):
            ServeConfig.from_env({name: value})
