"""``reelsight export``: the command line and the file it writes."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest

from reelsight.cli import main
from reelsight.edge import METADATA_CLASSES, METADATA_INPUT_SIZE, METADATA_LAYOUT, METADATA_MODEL
from reelsight.models.registry import VOC_CATEGORIES
from reelsight.params import RunOptions, SamplingParams
from reelsight.results import read_frames_jsonl
from reelsight.testing.videos import WrittenVideo


def test_export_writes_a_self_describing_file_that_runs_in_the_pipeline(
    tmp_path: Path, clip_5s: WrittenVideo, capsys: pytest.CaptureFixture[str]
):
    out = tmp_path / "edge" / "seg.onnx"
    code = main(
        ["export", "--onnx", "deeplabv3_mobilenet_v3", str(out), "--weights", "random", "--size", "96x64"]
    )
    assert code == 0
    assert "96x64" in capsys.readouterr().out
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta[METADATA_MODEL] == "deeplabv3_mobilenet_v3"
    assert meta[METADATA_INPUT_SIZE] == "96x64"
    assert meta[METADATA_LAYOUT] == "semantic-v1"
    assert tuple(json.loads(meta[METADATA_CLASSES])) == VOC_CATEGORIES

    from reelsight.pipeline import run_video

    options = RunOptions(
        model="deeplabv3_mobilenet_v3",
        weights=str(out),
        device="cpu",
        include=frozenset(),
        sampling=SamplingParams(fps=1.0, max_frames=3),
    ).validate()
    summary = run_video(clip_5s.path, options=options, out_dir=tmp_path / "run")
    assert summary.status == "ok" and summary.frames_sampled == 3
    frames = list(read_frames_jsonl(tmp_path / "run" / "frames.jsonl"))
    assert [f.timestamp for f in frames] == [0.0, 1.0, 2.0]
    for frame in frames:
        assert frame.semantic is not None
        assert sum(frame.semantic.fractions.values()) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["export", "--onnx", "maskrcnn", "out.onnx", "--size", "big"], "--size must look like"),
        (["export", "--onnx", "maskrcnn", "out.pt"], "must end with .onnx"),
        (["export", "--onnx", "deeplab_resnet101_citys", "out.onnx"], "mxnet model"),
        (["export", "--onnx", "nope", "out.onnx"], "unknown model"),
        (["export", "--onnx", "maskrcnn", "out.onnx", "--size", "16x16"], "at least 32x32"),
    ],
)
def test_bad_requests_are_user_errors(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
):
    monkeypatch.chdir(tmp_path)
    code = main(argv)
    assert code in (2, 4)
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out.onnx").exists()
