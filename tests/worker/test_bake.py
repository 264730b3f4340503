"""The build-time weight download: a blocked download fails clearly; a cached checkpoint is used."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reelsight.testing.moto_server import free_port

from .conftest import child_env


def _bake(torch_home: Path, proxy_port: int) -> subprocess.CompletedProcess[str]:
    proxy = f"http://127.0.0.1:{proxy_port}"  # nothing listens there: every download is refused
    env = child_env(
        {"TORCH_HOME": str(torch_home), "https_proxy": proxy, "HTTPS_PROXY": proxy, "no_proxy": ""}
    )
    return subprocess.run(
        [sys.executable, "-m", "reelsight.worker.bake", "--model", "ssdlite"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_blocked_download_fails_with_a_clear_error(tmp_path: Path) -> None:
    result = _bake(tmp_path, free_port())
    assert result.returncode == 4
    assert "could not get the pretrained weights of ssdlite" in result.stderr
    assert "download.pytorch.org" in result.stderr
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert leftovers == []


@pytest.mark.slow
def test_a_checkpoint_already_in_torch_home_is_used_offline(tmp_path: Path) -> None:
    import torch
    import torchvision

    weights = torchvision.models.get_model_weights("ssdlite320_mobilenet_v3_large").DEFAULT
    target = tmp_path / "hub" / "checkpoints" / os.path.basename(weights.url)
    target.parent.mkdir(parents=True)
    net = torchvision.models.get_model("ssdlite320_mobilenet_v3_large", weights=None, weights_backbone=None)
    torch.save(net.state_dict(), target)
    result = _bake(tmp_path, free_port())
    assert result.returncode == 0, result.stderr
    assert str(target) in result.stdout
    # a damaged checkpoint is refused, not baked
    target.write_bytes(b"not a checkpoint")
    damaged = _bake(tmp_path, free_port())
    assert damaged.returncode == 4 and "could not get the pretrained weights" in damaged.stderr
