"""SageMaker built-in Object Detection artifacts: loading, output conversion, a video end to end."""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest

from reelsight import envvars
from reelsight.errors import ModelError
from reelsight.frames import FrameTransform, SampledFrame
from reelsight.mx.builtin_ssd import MEAN_RGB, relative_rows_to_detections
from reelsight.mx.loader import load_mx_predictor
from reelsight.results import read_frames_jsonl, read_summary
from reelsight.testing.videos import WrittenVideo, frame_image
from tests_mx.ssd_artifact import PREFIX, write_artifact

BIRDS = ["sparrow", "blue jay", "finch"]


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_artifact(tmp_path_factory.mktemp("ssd"), class_names=BIRDS, image_shape=128)


def _frame(width: int = 320, height: int = 240) -> SampledFrame:
    return SampledFrame(
        index=4,
        timestamp=0.4,
        image=frame_image(4, width, height),
        source_size=(width, height),
        transform=FrameTransform(source_size=(width, height)),
        keyframe=False,
    )


def test_relative_rows_become_source_pixel_boxes():
    rows = np.array(
        [
            [1, 0.9, 0.1, 0.2, 0.5, 0.6],  # kept
            [-1, 0.99, 0.0, 0.0, 1.0, 1.0],  # suppressed anchor
            [0, 0.3, 0.0, 0.0, 0.5, 0.5],  # under the threshold
            [2, 0.95, -0.1, 0.5, 1.2, 1.0],  # kept, clipped to the frame, sorted first
        ],
        dtype=np.float32,
    )
    dets = relative_rows_to_detections(rows, 200, 100, BIRDS, 0.5)
    assert dets.class_names == ["finch", "blue jay"]
    assert dets.labels.tolist() == [2, 1]
    np.testing.assert_allclose(dets.xyxy, [[0, 50, 200, 100], [20, 20, 100, 60]], atol=1e-4)
    np.testing.assert_allclose(dets.scores, [0.95, 0.9], atol=1e-6)

    # A frame the sampler halved: boxes go back to the 400x200 source.
    half = FrameTransform(scale_x=0.5, scale_y=0.5, source_size=(400, 200))
    dets = relative_rows_to_detections(rows, 200, 100, BIRDS, 0.5, half)
    np.testing.assert_allclose(dets.xyxy, [[0, 100, 400, 200], [40, 40, 200, 120]], atol=1e-4)
    assert len(relative_rows_to_detections(np.zeros((0, 6)), 10, 10, BIRDS, 0.5)) == 0


def test_artifact_predictions_match_the_training_symbol(artifact: Path, tmp_path: Path):
    predictor = load_mx_predictor("builtin_ssd", weights=str(artifact), device="cpu", score_threshold=0.2)
    assert predictor.class_names == tuple(BIRDS)
    assert predictor.image_shape == 128
    assert predictor.spec.classes == tuple(BIRDS)
    frame = _frame()
    dets = predictor.predict([frame])[0].detections
    assert dets is not None and len(dets) > 0

    # The same forward pass done by hand on the training checkpoint.
    with tarfile.open(artifact) as tar:
        tar.extractall(tmp_path, filter="data")
    symbol, arg_params, aux_params = mx.model.load_checkpoint(str(tmp_path / PREFIX), 0)
    module = mx.mod.Module(symbol, data_names=("data",), label_names=("label",), context=mx.cpu())
    module.bind(
        data_shapes=[("data", (1, 3, 128, 128))], label_shapes=[("label", (1, 1, 5))], for_training=False
    )
    module.set_params(arg_params, aux_params)
    import cv2

    image = cv2.resize(frame.image, (128, 128), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    batch = mx.io.DataBatch(
        data=[mx.nd.array((image - MEAN_RGB).transpose(2, 0, 1)[None])], label=[mx.nd.full((1, 1, 5), -1.0)]
    )
    module.forward(batch, is_train=False)
    rows = module.get_outputs()[3].asnumpy()[0]
    rows = rows[(rows[:, 0] >= 0) & (rows[:, 1] >= 0.2)]
    rows = rows[np.argsort(-rows[:, 1], kind="stable")]
    assert len(dets) == len(rows)
    np.testing.assert_allclose(dets.xyxy, np.clip(rows[:, 2:], 0, 1) * [320, 240, 320, 240], atol=1e-3)
    assert dets.class_names == [BIRDS[int(c)] for c in rows[:, 0]]


def test_video_through_the_processing_contract(
    artifact: Path, tmp_path: Path, clip_3s: WrittenVideo, mx_python: str, repo_root: Path
):
    inputs = tmp_path / "input"
    inputs.mkdir()
    (inputs / "feeder.mp4").write_bytes(clip_3s.path.read_bytes())
    labels = tmp_path / "birds.txt"
    labels.write_text("# one class per line\nrobin\nwren\nthrush\n")
    output = tmp_path / "output"
    env = {
        **os.environ,
        envvars.RESOURCE_CONFIG: str(tmp_path / "none.json"),
        envvars.JOB_CONFIG: str(tmp_path / "none.json"),
    }
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
        str(tmp_path / "message"),
        "--model",
        "builtin_ssd",
        "--weights",
        str(artifact),
        "--labels",
        str(labels),
        "--fps",
        "2",
        "--batch-size",
        "4",
        "--score-threshold",
        "0.3",
    ]
    done = subprocess.run(cmd, env=env, cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = read_summary(output / "feeder" / "summary.json")
    assert summary.status == "ok" and summary.model["name"] == "builtin_ssd"
    frames = list(read_frames_jsonl(output / "feeder" / "frames.jsonl"))
    assert [f.frame_index for f in frames] == [0, 5, 10, 15, 20, 25]
    total = 0
    for frame in frames:
        assert frame.detections is not None
        total += len(frame.detections)
        assert set(frame.detections.class_names) <= {"robin", "wren", "thrush"}
        assert (frame.detections.scores >= 0.3).all()
        boxes = frame.detections.xyxy
        assert (
            (boxes[:, 0] <= boxes[:, 2]).all() and (boxes[:, 2] <= 320).all() and (boxes[:, 3] <= 240).all()
        )
    assert total > 0 and summary.detections_total == total
    assert sum(summary.counts_per_class.values()) == total


def test_labels_that_disagree_with_the_model_are_rejected(artifact: Path, tmp_path: Path, monkeypatch):
    wrong = tmp_path / "two.txt"
    wrong.write_text("a\nb\n")
    monkeypatch.setenv(envvars.LABELS_FILE, str(wrong))
    bare = write_artifact(tmp_path / "bare", class_names=BIRDS, labels_inside=False)
    with pytest.raises(ModelError, match="2 classes, the model has 3"):
        load_mx_predictor("builtin_ssd", weights=str(bare), device="cpu")
    right = tmp_path / "three.txt"
    right.write_text("x\ny\nz\n")
    monkeypatch.setenv(envvars.LABELS_FILE, str(right))
    named = load_mx_predictor("builtin_ssd", weights=str(artifact), device="cpu")  # labels.txt inside too
    assert named.class_names == ("x", "y", "z")
    monkeypatch.delenv(envvars.LABELS_FILE)
    unnamed = load_mx_predictor("builtin_ssd", weights=str(bare), device="cpu")
    assert unnamed.class_names == ("class_0", "class_1", "class_2")


def test_broken_artifacts_give_model_errors(tmp_path: Path, artifact: Path):
    with pytest.raises(ModelError, match="no pretrained or random"):
        load_mx_predictor("builtin_ssd", weights="random", device="cpu")
    with pytest.raises(ModelError, match="not found"):
        load_mx_predictor("builtin_ssd", weights=str(tmp_path / "missing.tar.gz"), device="cpu")
    params_only = tmp_path / "params_only.tar.gz"
    with tarfile.open(artifact) as src, tarfile.open(params_only, "w:gz") as dst:
        member = src.getmember(f"{PREFIX}-0000.params")
        dst.addfile(member, src.extractfile(member))
    with pytest.raises(ModelError, match="symbol.json"):
        load_mx_predictor("builtin_ssd", weights=str(params_only), device="cpu")
    evil = tmp_path / "evil.tar.gz"
    payload = tmp_path / "payload"
    payload.write_text("x")
    with tarfile.open(evil, "w:gz") as tar:
        tar.add(payload, arcname="../../escaped.txt")
    with pytest.raises(ModelError, match="cannot extract"):
        load_mx_predictor("builtin_ssd", weights=str(evil), device="cpu")
    hyper_bad = tmp_path / "hyper"
    with tarfile.open(artifact) as tar:
        tar.extractall(hyper_bad, filter="data")
    (hyper_bad / "hyperparams.json").write_text("{not json")
    with pytest.raises(ModelError, match="not JSON"):
        load_mx_predictor("builtin_ssd", weights=str(hyper_bad), device="cpu")


def test_weights_from_s3(artifact: Path, monkeypatch: pytest.MonkeyPatch):
    import boto3

    from reelsight.testing.moto_server import MotoServer

    with MotoServer() as server:
        for key, value in server.client_env().items():
            monkeypatch.setenv(key, value)
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="models")
        s3.upload_file(str(artifact), "models", "birds/output/model.tar.gz")
        uri = "s3://models/birds/output/model.tar.gz"
        predictor = load_mx_predictor("builtin_ssd", weights=uri, device="cpu", score_threshold=0.2)
        assert predictor.weights_info["weights"] == uri
        assert predictor.class_names == tuple(BIRDS)
        assert len(predictor.predict([_frame()])[0].detections) > 0
        with pytest.raises(ModelError, match="cannot download weights"):
            load_mx_predictor("builtin_ssd", weights="s3://models/missing.tar.gz", device="cpu")
        with pytest.raises(ModelError, match="must name an object"):
            load_mx_predictor("builtin_ssd", weights="s3://models/", device="cpu")
