"""``reelsight serve`` loading its model from a SageMaker model directory (/opt/ml/model)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import httpx
import pytest

from reelsight.testing.moto_server import free_port
from reelsight.testing.videos import WrittenVideo

from .conftest import child_env, start_serve, temp_leftovers


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


@pytest.mark.slow
def test_model_tar_gz_is_loaded_and_names_the_model(tmp_path: Path, clip_5s: WrittenVideo) -> None:
    import torch
    import torchvision

    torch.manual_seed(123)
    net = torchvision.models.get_model("ssdlite320_mobilenet_v3_large", weights=None, weights_backbone=None)
    state = io.BytesIO()
    torch.save(net.state_dict(), state)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    with tarfile.open(model_dir / "model.tar.gz", "w:gz") as tar:
        _add(tar, "model.pth", state.getvalue())
        _add(tar, "config.json", json.dumps({"model": "ssdlite"}).encode())
    # REELSIGHT_MODEL says maskrcnn, but the archive's config.json names the model it holds.
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {
        "REELSIGHT_MODEL_DIR": str(model_dir),
        "REELSIGHT_WEIGHTS": "",
        "REELSIGHT_MODEL": "maskrcnn",
        "TMPDIR": str(tmp),
    }
    server = start_serve(env, tmp_path / "serve.log")
    try:
        assert temp_leftovers(tmp, server.proc.pid) == []  # the unpacked archive is gone once loaded
        assert httpx.get(f"{server.url}/ping").json() == {"status": "ok", "model": "ssdlite"}
        answer = httpx.post(
            f"{server.url}/invocations",
            content=clip_5s.path.read_bytes(),
            headers={"Content-Type": "video/mp4", "X-Amzn-SageMaker-Custom-Attributes": "max_frames=1"},
            timeout=300,
        )
        assert answer.status_code == 200, answer.text
        model = answer.json()["model"]
        assert model["name"] == "ssdlite" and model["weights_source"] == "checkpoint"
        assert model["random_weights"] is False
        assert temp_leftovers(tmp, server.proc.pid) == []
    finally:
        assert server.stop() == 0  # SIGTERM is a clean shutdown
    assert list(tmp.iterdir()) == []  # the worker's own directory went with it


@pytest.mark.slow
def test_unloadable_model_stops_the_server_with_a_clear_error(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.tar.gz").write_bytes(b"this is not an archive")
    result = subprocess.run(
        [sys.executable, "-m", "reelsight", "serve", "--port", str(free_port())],
        env=child_env({"REELSIGHT_MODEL_DIR": str(model_dir), "REELSIGHT_WEIGHTS": ""}),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 4
    assert "model load failed" in result.stderr and "model.tar.gz" in result.stderr
