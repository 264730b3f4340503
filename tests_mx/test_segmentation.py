"""GluonCV segmentation through the Processing contract, as seed 000 ran it (random weights)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reelsight import envvars
from reelsight.errors import ModelError
from reelsight.frames import FrameTransform, SampledFrame
from reelsight.models.registry import CITYSCAPES_CATEGORIES
from reelsight.mx.loader import load_mx_predictor, spec_for
from reelsight.mx.segmentation import load_segmenter
from reelsight.render import colourize, semantic_palette
from reelsight.results import read_frames_jsonl, read_summary
from reelsight.testing.videos import WrittenVideo, frame_image, write_not_a_video

MODEL = "deeplab_resnet101_citys"


def _frame(width: int = 160, height: int = 120) -> SampledFrame:
    return SampledFrame(
        index=7,
        timestamp=0.7,
        image=frame_image(7, width, height),
        source_size=(width, height),
        transform=FrameTransform(source_size=(width, height)),
        keyframe=False,
    )


def test_process_contract_end_to_end(tmp_path: Path, clip_3s: WrittenVideo, mx_python: str, repo_root: Path):
    inputs = tmp_path / "input"
    (inputs / "street").mkdir(parents=True)
    (inputs / "street" / "drive.mp4").write_bytes(clip_3s.path.read_bytes())
    write_not_a_video(inputs / "broken.mp4")
    config = tmp_path / "resourceconfig.json"
    config.write_text(json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]}))
    output = tmp_path / "output"
    message = tmp_path / "message"
    env = {
        **os.environ,
        envvars.RESOURCE_CONFIG: str(config),
        envvars.JOB_CONFIG: str(tmp_path / "no-job-config.json"),
        envvars.WEIGHTS: "random",
    }
    env.pop(envvars.MODEL, None)
    cmd = [
        mx_python,
        "-m",
        "reelsight.mx",
        "process",
        "--input",
        str(inputs),
        "--output",
        str(output),
        "--message-file",
        str(message),
        "--fps",
        "1",
        "--max-frames",
        "2",
        "--batch-size",
        "2",
        "--resize",
        "fit",
        "--size",
        "160x120",
    ]
    done = subprocess.run(cmd, env=env, cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    text = message.read_text()
    assert "2 video(s): 1 ok, 0 partial, 1 failed" in text
    assert "broken.mp4" in text
    manifest = json.loads((output / "manifest.json").read_text())
    assert manifest["counts"] == {"ok": 1, "partial": 0, "failed": 1}
    assert json.loads((output / "broken" / "error.json").read_text())["status"] == "failed"

    result = output / "drive"
    summary = read_summary(result / "summary.json")
    assert summary.status == "ok"
    assert summary.model["name"] == MODEL and summary.model["random_weights"] is True
    assert summary.video["width"] == 320 and summary.frames_sampled == 2
    frames = list(read_frames_jsonl(result / "frames.jsonl"))
    assert [f.frame_index for f in frames] == [0, 10]
    assert [f.timestamp for f in frames] == [0.0, 1.0]
    for frame in frames:
        assert frame.semantic is not None and frame.detections is None
        assert set(frame.semantic.fractions) <= set(CITYSCAPES_CATEGORIES)
        assert sum(frame.semantic.fractions.values()) == pytest.approx(1.0, abs=1e-4)
        class_map = np.asarray(Image.open(result / frame.semantic.class_map_png))
        # Computed at 160x120, mapped back to the 320x240 source.
        assert class_map.shape == (240, 320)
        assert class_map.max() < len(CITYSCAPES_CATEGORIES)
        counts = np.bincount(class_map.ravel(), minlength=19) / class_map.size
        for name, fraction in frame.semantic.fractions.items():
            assert counts[CITYSCAPES_CATEGORIES.index(name)] == pytest.approx(fraction, abs=1e-4)
        # Seed 000's coloured mask, on by default in the MXNet backend (include mask_pngs).
        colour = np.asarray(Image.open(result / "masks" / f"frame_{frame.frame_index:06d}.png"))
        assert colour.shape == (240, 320, 3)
        np.testing.assert_array_equal(colour, colourize(class_map, semantic_palette(CITYSCAPES_CATEGORIES)))
    assert summary.model["framework"] == "mxnet"
    assert summary.artifacts["contact_sheet"] == "contact_sheet.png"
    assert Image.open(result / summary.artifacts["contact_sheet"]).size[0] > 0


def test_seeded_random_weights_reproduce_and_baked_weights_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    original = load_segmenter(spec_for(MODEL), weights="random", device="cpu", seed=5)
    expected = original.predict([_frame()])[0].semantic
    assert expected is not None
    baked = tmp_path / "model"
    baked.mkdir()
    original.net.save_parameters(str(baked / f"{MODEL}.params"))
    del original

    again = load_segmenter(spec_for(MODEL), weights="random", device="cpu", seed=5)
    got = again.predict([_frame()])[0].semantic
    assert got is not None and np.array_equal(got.class_map, expected.class_map)
    assert got.fractions == expected.fractions
    del again

    monkeypatch.setenv(envvars.MODEL_DIR, str(baked))
    from_bake = load_mx_predictor(MODEL, weights="pretrained", device="cpu")
    assert from_bake.weights_info["weights_source"] == str(baked / f"{MODEL}.params")
    assert from_bake.weights_info["random_weights"] is False
    got = from_bake.predict([_frame()])[0].semantic
    assert got is not None and np.array_equal(got.class_map, expected.class_map)


def test_pretrained_without_baked_weights_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(envvars.MODEL_DIR, str(tmp_path))
    monkeypatch.setenv("MXNET_HOME", str(tmp_path))
    with pytest.raises(ModelError, match="weights=random"):
        load_mx_predictor(MODEL, weights="pretrained", device="cpu")


def test_wrong_weights_file_is_a_model_error(tmp_path: Path):
    bogus = tmp_path / "other.params"
    bogus.write_bytes(b"not parameters")
    with pytest.raises(ModelError, match="cannot load"):
        load_mx_predictor(MODEL, weights=str(bogus), device="cpu")


def test_torch_models_and_unknown_names_are_rejected():
    with pytest.raises(ModelError, match="torchvision model"):
        spec_for("maskrcnn")
    with pytest.raises(ModelError, match="unknown GluonCV model"):
        load_mx_predictor("no_such_model_citys", weights="random", device="cpu")
