"""Weights: checkpoints the tests write (state_dict and model.tar.gz), offline pretrained, and `auto`'s
bounded download of a checkpoint served from loopback."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch

from reelsight import envvars
from reelsight.errors import ModelError, ParamError
from reelsight.frames import FrameTransform, SampledFrame
from reelsight.local.supervisor import LocalOptions, resolve_weights
from reelsight.models import load_predictor
from reelsight.models.registry import get_spec
from reelsight.models.weights import build_random, builder_kwargs, download_limits, pretrained_weights


def _frame() -> SampledFrame:
    image = np.random.default_rng(0).integers(0, 256, (64, 80, 3), dtype=np.uint8)
    return SampledFrame(
        index=0,
        timestamp=0.0,
        image=image,
        source_size=(80, 64),
        transform=FrameTransform(source_size=(80, 64)),
        keyframe=True,
    )


def _state(predictor: object) -> dict[str, torch.Tensor]:
    """The predictor's weights as it runs them (batch norms folded into convolutions)."""
    return predictor.module.state_dict()  # type: ignore[attr-defined]


def _random_state(name: str, seed: int) -> dict[str, torch.Tensor]:
    """The weights ``load_predictor(name, weights="random", seed=seed)`` is built from."""
    spec = get_spec(name)
    return build_random(spec, seed=seed, kwargs=builder_kwargs(spec, 0.5, None)).state_dict()


def test_state_dict_file_loads_the_saved_weights(tmp_path: Path) -> None:
    source = load_predictor("ssdlite", weights="random", seed=11, score_threshold=0.0)
    path = tmp_path / "ssd.pth"
    torch.save(_random_state("ssdlite", 11), path)
    loaded = load_predictor("ssdlite", weights=str(path), score_threshold=0.0)
    assert loaded.weights_info == {
        "weights": str(path),
        "weights_source": "checkpoint",
        "random_weights": False,
    }
    for key, value in _state(source).items():
        assert torch.equal(value, _state(loaded)[key]), key
    a = source.predict([_frame()])[0].detections
    b = loaded.predict([_frame()])[0].detections
    assert a is not None and b is not None
    np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1e-4)


def test_wrapped_training_checkpoint_loads(tmp_path: Path) -> None:
    source = load_predictor("deeplabv3_mobilenet_v3", weights="random", seed=2)
    path = tmp_path / "train.pt"
    state = _random_state("deeplabv3_mobilenet_v3", 2)
    torch.save({"epoch": 3, "model": {f"module.{k}": v for k, v in state.items()}}, path)
    loaded = load_predictor("deeplabv3_mobilenet_v3", weights=str(path))
    assert torch.equal(_state(loaded)["classifier.4.weight"], _state(source)["classifier.4.weight"])


def _write_tarball(path: Path, state: dict[str, torch.Tensor], config: dict | None) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        buffer = io.BytesIO()
        torch.save(state, buffer)
        members = {"model.pth": buffer.getvalue()}
        if config is not None:
            members["config.json"] = json.dumps(config).encode()
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_sagemaker_tarball_with_custom_classes(tmp_path: Path) -> None:
    classes = ["background", "road", "car", "person"]
    torch.manual_seed(4)
    import torchvision

    net = torchvision.models.segmentation.deeplabv3_mobilenet_v3_large(
        weights=None, weights_backbone=None, num_classes=len(classes)
    )
    archive = _write_tarball(
        tmp_path / "model.tar.gz",
        net.state_dict(),
        {"model": "deeplabv3_mobilenet_v3", "num_classes": 4, "classes": classes},
    )
    # The archive's config names the model, so it wins over the name asked for.
    predictor = load_predictor("maskrcnn", weights=str(archive))
    assert predictor.spec.name == "deeplabv3_mobilenet_v3"
    assert predictor.classes == tuple(classes)  # type: ignore[attr-defined]
    (result,) = predictor.predict([_frame()])
    assert result.semantic is not None
    assert set(result.semantic.fractions) <= set(classes)


def test_tarball_without_config_uses_registry_classes(tmp_path: Path) -> None:
    source = load_predictor("deeplabv3_mobilenet_v3", weights="random", seed=9)
    archive = _write_tarball(tmp_path / "model.tar.gz", _random_state("deeplabv3_mobilenet_v3", 9), None)
    loaded = load_predictor("deeplabv3_mobilenet_v3", weights=str(archive))
    assert loaded.classes == loaded.spec.classes and loaded.spec.classes[15] == "person"  # type: ignore[attr-defined]
    key = "classifier.4.weight"
    assert torch.equal(_state(loaded)[key], _state(source)[key])


def test_bad_checkpoints_are_model_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="weights file not found"):
        load_predictor("ssdlite", weights=str(tmp_path / "missing.pth"))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="cannot read checkpoint"):
        load_predictor("ssdlite", weights=str(junk))
    wrong = tmp_path / "wrong.pth"
    torch.save(_state(load_predictor("deeplabv3_mobilenet_v3", weights="random")), wrong)
    with pytest.raises(ModelError, match="does not fit ssdlite"):
        load_predictor("ssdlite", weights=str(wrong))
    empty_tar = tmp_path / "empty.tar.gz"
    with tarfile.open(empty_tar, "w:gz"):
        pass
    with pytest.raises(ModelError, match="no model.pth"):
        load_predictor("ssdlite", weights=str(empty_tar))


def test_onnx_weights_go_to_the_onnx_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    calls: list[tuple[str, dict]] = []
    stub = types.ModuleType("reelsight.models.onnx_backend")

    def load_onnx_predictor(path: str, **kwargs: object) -> str:
        calls.append((path, dict(kwargs)))
        return "onnx predictor"

    stub.load_onnx_predictor = load_onnx_predictor  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "reelsight.models.onnx_backend", stub)
    import reelsight.models

    monkeypatch.setattr(reelsight.models, "onnx_backend", stub, raising=False)
    path = str(tmp_path / "m.onnx")
    assert load_predictor("ssdlite", weights=path, device="cpu", score_threshold=0.3) == "onnx predictor"
    assert calls == [(path, {"spec_name": "ssdlite", "device": "cpu", "score_threshold": 0.3})]


@pytest.fixture()
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache, and every HTTP(S) request sent to a closed loopback port."""
    home = tmp_path / "torch-home"
    home.mkdir()
    monkeypatch.setenv("TORCH_HOME", str(home))
    for var in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    # urlopen caches one opener per process with the proxies of its first call: without this,
    # a first call made here would send every later request in the session to the dead proxy.
    monkeypatch.setattr(urllib.request, "_opener", None)
    return home


def test_offline_pretrained_is_a_clear_model_error(offline: Path) -> None:
    with pytest.raises(ModelError) as info:
        load_predictor("ssdlite", weights="pretrained")
    message = str(info.value)
    assert "cannot load pretrained weights for ssdlite" in message
    assert str(offline) in message  # where to put the file
    assert "--allow-random-fallback" in message
    assert not list(offline.rglob("*.pth"))


def test_offline_pretrained_with_fallback_flags_random_weights(
    offline: Path, caplog: pytest.LogCaptureFixture
) -> None:
    predictor = load_predictor("ssdlite", weights="pretrained", allow_random_fallback=True)
    assert predictor.weights_info["random_weights"] is True
    assert "fallback" in predictor.weights_info["weights_source"]
    assert "FALLING BACK TO RANDOM WEIGHTS" in caplog.text


def test_checkpoint_with_training_aux_head_loads_and_skips_it(tmp_path: Path) -> None:
    import torchvision

    torch.manual_seed(1)
    net = torchvision.models.segmentation.deeplabv3_mobilenet_v3_large(
        weights=None, weights_backbone=None, aux_loss=True
    )
    assert any(k.startswith("aux_classifier.") for k in net.state_dict())
    path = tmp_path / "with_aux.pth"
    torch.save(net.state_dict(), path)
    predictor = load_predictor("deeplabv3_mobilenet_v3", weights=str(path))
    assert predictor.module.aux_classifier is None  # type: ignore[attr-defined]
    assert torch.equal(_state(predictor)["classifier.4.weight"], net.state_dict()["classifier.4.weight"])


# --- `auto`: the pretrained checkpoint downloaded from a loopback server, with its failures -------------

SERVED_SEED = 5


@dataclass
class CheckpointServer:
    """Serves one checkpoint, named by torch hub's hash convention, as ``mode`` says."""

    body: bytes
    name: str
    url: str = ""
    mode: str = "ok"  # ok | silent (never answers) | stall (stops mid-body) | trickle | truncate | corrupt
    requests: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def respond(self, handler: BaseHTTPRequestHandler) -> None:
        self.requests.append(handler.path)
        if handler.path != f"/{self.name}":
            handler.send_error(404)
            return
        if self.mode == "silent":
            self.release.wait(60)
            return
        body = self.body
        if self.mode == "corrupt":
            body = body[:1000] + bytes(b ^ 0xFF for b in body[1000:1016]) + body[1016:]
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if self.mode == "trickle":  # 4 KiB every 20 ms: never idle for long, never done
            for start in range(0, len(body), 4096):
                if self.release.wait(0.02):
                    return
                handler.wfile.write(body[start : start + 4096])
                handler.wfile.flush()
        if self.mode in ("stall", "truncate"):
            handler.wfile.write(body[: len(body) // 3])
            handler.wfile.flush()
            if self.mode == "stall":
                self.release.wait(60)
            return  # HTTP/1.0: the connection closes, short of Content-Length
        handler.wfile.write(body)


@pytest.fixture(scope="module")
def served_checkpoint() -> tuple[bytes, str]:
    """A real ssdlite state_dict (random init), saved as torchvision saves its COCO checkpoint."""
    state = _random_state("ssdlite", SERVED_SEED)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    body = buffer.getvalue()
    return body, f"ssdlite320_mobilenet_v3_large_coco-{hashlib.sha256(body).hexdigest()[:8]}.pth"


@pytest.fixture()
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty TORCH_HOME, no proxy, and a short network timeout; returns the checkpoints folder."""
    home = tmp_path / "torch-home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    for var in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(envvars.WEIGHTS_DOWNLOAD_TIMEOUT, "1")
    return home / "hub" / "checkpoints"


@pytest.fixture()
def server(
    served_checkpoint: tuple[bytes, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[CheckpointServer]:
    """The loopback server, and ssdlite's DEFAULT weights pointed at it."""
    body, name = served_checkpoint
    state = CheckpointServer(body=body, name=name)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.respond(self)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/{name}"
    monkeypatch.setattr(pretrained_weights(get_spec("ssdlite")).value, "url", state.url)
    try:
        yield state
    finally:
        state.release.set()
        httpd.shutdown()
        httpd.server_close()


def test_auto_downloads_into_torch_home_and_loads_it(hub: Path, server: CheckpointServer) -> None:
    predictor = load_predictor("ssdlite", weights="auto", score_threshold=0.0)
    assert predictor.weights_info == {
        "weights": "pretrained",
        "weights_source": "torchvision:SSDLite320_MobileNet_V3_Large_Weights.COCO_V1",
        "random_weights": False,
    }
    assert server.requests == [f"/{server.name}"]
    assert sorted(p.name for p in hub.iterdir()) == [server.name]  # no temporary file left
    assert (hub / server.name).read_bytes() == server.body
    reference = load_predictor("ssdlite", weights="random", seed=SERVED_SEED, score_threshold=0.0)
    for key, value in _state(reference).items():
        assert torch.equal(value, _state(predictor)[key]), key


@pytest.mark.parametrize("mode", ["silent", "stall"])
def test_auto_gives_up_on_a_stalled_server_within_the_timeout(
    hub: Path, server: CheckpointServer, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    server.mode = mode
    started = time.monotonic()
    predictor = load_predictor("ssdlite", weights="auto")
    elapsed = time.monotonic() - started
    assert elapsed < 8, f"took {elapsed:.1f}s with a 1s timeout (the server stalls for 60s)"
    assert predictor.weights_info["random_weights"] is True
    assert "FALLING BACK TO RANDOM WEIGHTS for ssdlite" in caplog.text
    assert f"no data for 1s ({envvars.WEIGHTS_DOWNLOAD_TIMEOUT})" in caplog.text
    assert server.url in caplog.text
    assert list(hub.iterdir()) == []


def test_auto_stops_a_download_that_outlasts_its_time(
    hub: Path, server: CheckpointServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    server.mode = "trickle"  # data keeps coming, so only the cap on the whole download ends it
    monkeypatch.setenv(envvars.WEIGHTS_DOWNLOAD_MAX_SECONDS, "0.5")
    started = time.monotonic()
    predictor = load_predictor("ssdlite", weights="auto")
    assert time.monotonic() - started < 8
    assert predictor.weights_info["random_weights"] is True
    assert f"not done after 0.5s ({envvars.WEIGHTS_DOWNLOAD_MAX_SECONDS})" in caplog.text
    assert list(hub.iterdir()) == []


@pytest.mark.parametrize(("mode", "reason"), [("corrupt", "bad checksum"), ("truncate", "truncated")])
def test_auto_rejects_a_corrupt_download_and_leaves_no_file(
    hub: Path, server: CheckpointServer, mode: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    server.mode = mode
    predictor = load_predictor("ssdlite", weights="auto")
    assert predictor.weights_info["random_weights"] is True
    assert "fallback" in predictor.weights_info["weights_source"]
    assert reason in caplog.text and "FALLING BACK TO RANDOM WEIGHTS" in caplog.text
    assert list(hub.iterdir()) == []
    with pytest.raises(ModelError, match=reason):  # pretrained, without the fallback, fails the same way
        load_predictor("ssdlite", weights="pretrained")


def test_cached_checkpoint_is_used_without_network(hub: Path, server: CheckpointServer) -> None:
    hub.mkdir(parents=True)
    (hub / server.name).write_bytes(server.body)
    server.mode = "silent"  # a request would stall the test and then fall back
    for weights in ("auto", "pretrained"):
        predictor = load_predictor("ssdlite", weights=weights)
        assert predictor.weights_info["random_weights"] is False
    assert server.requests == []


def test_offline_auto_falls_back_at_once(offline: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The real URL through a proxy that refuses connections: no wait for the timeout."""
    started = time.monotonic()
    predictor = load_predictor("ssdlite", weights="auto")
    assert time.monotonic() - started < 10
    assert predictor.weights_info["random_weights"] is True
    assert "FALLING BACK TO RANDOM WEIGHTS for ssdlite" in caplog.text
    assert not list(offline.rglob("*.pth")) and not list(offline.rglob("*.partial"))


def test_local_stack_auto_downloads_else_falls_back(
    hub: Path, server: CheckpointServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    options = LocalOptions(state_dir=str(tmp_path / "state"), model="ssdlite", weights="auto")
    server.mode = "truncate"
    said: list[str] = []
    assert resolve_weights(options, said.append) == ("random", True)
    assert "FALLING BACK TO RANDOM WEIGHTS for ssdlite" in caplog.text
    assert said == ["no pretrained weights for ssdlite in the torch hub cache: downloading them"]
    server.mode = "ok"
    assert resolve_weights(options, said.append) == ("pretrained", False)
    assert (hub / server.name).read_bytes() == server.body
    requests = len(server.requests)
    assert resolve_weights(options, said.append) == ("pretrained", False)  # cached: no request
    assert len(server.requests) == requests == 2


def test_download_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(envvars.WEIGHTS_DOWNLOAD_TIMEOUT, raising=False)
    monkeypatch.setenv(envvars.WEIGHTS_DOWNLOAD_MAX_SECONDS, "120")
    assert download_limits() == (20.0, 120.0)
    for bad in ("0", "-1", "soon", "inf", "nan"):
        monkeypatch.setenv(envvars.WEIGHTS_DOWNLOAD_TIMEOUT, bad)
        with pytest.raises(ParamError, match=envvars.WEIGHTS_DOWNLOAD_TIMEOUT):
            download_limits()
