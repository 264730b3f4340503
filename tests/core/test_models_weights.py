"""Weights: checkpoints the tests write (state_dict and model.tar.gz), and offline pretrained."""

from __future__ import annotations

import io
import json
import tarfile
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from reelsight.errors import ModelError
from reelsight.frames import FrameTransform, SampledFrame
from reelsight.models import load_predictor
from reelsight.models.registry import get_spec
from reelsight.models.weights import build_random, builder_kwargs


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
