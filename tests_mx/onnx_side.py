"""The main environment's half of the SSD -> ONNX parity test (run there by tests_mx/test_onnx_export.py).

onnxruntime cannot join .venv-mxnet (its Python 3.11 wheels need numpy >= 1.24, MXNet 1.9 needs
1.23), so the exported file runs where reelsight's ONNX backend runs. Reads ``frame-*.npy`` from a
folder, runs ``load_onnx_predictor`` on each, and writes ``onnx.json``: boxes, labels, scores.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from reelsight.frames import FrameTransform, SampledFrame
from reelsight.models import load_predictor


def main(onnx_file: str, folder: str, score_threshold: str) -> None:
    predictor = load_predictor(
        "builtin_ssd", weights=onnx_file, device="cpu", score_threshold=float(score_threshold)
    )
    results = []
    for index, path in enumerate(sorted(Path(folder).glob("frame-*.npy"))):
        image = np.load(path)
        size = (image.shape[1], image.shape[0])
        frame = SampledFrame(
            index=index,
            timestamp=index / 10,
            image=image,
            source_size=size,
            transform=FrameTransform(source_size=size),
            keyframe=False,
        )
        detections = predictor.predict([frame])[0].detections
        assert detections is not None
        results.append(
            {
                "xyxy": detections.xyxy.tolist(),
                "labels": detections.labels.tolist(),
                "scores": detections.scores.tolist(),
                "class_names": list(detections.class_names),
                "device": predictor.device,
            }
        )
    (Path(folder) / "onnx.json").write_text(json.dumps(results))


if __name__ == "__main__":
    main(*sys.argv[1:4])
