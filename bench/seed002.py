"""The seed-002 async-endpoint handler's behaviour, re-implemented for comparison.

What it does, on purpose, because the seed did it:
- writes the request body to a temporary file and opens it with ``cv2.VideoCapture``;
- ``read()``s every frame and keeps every 30th (a frame count, not a time);
- stretches each kept frame to 1024x1024 with INTER_AREA;
- feeds the BGR frame as-is through a ToTensor-style conversion (the model expects RGB);
- runs Mask R-CNN in fp32 on batches of 24;
- returns boxes, labels and scores per kept frame, boxes in the squashed 1024x1024 frame
  (no masks, no frame index, no timestamp);
- never deletes the temporary file (``cleanup=True`` lets the benchmark tidy up).

One deviation: the seed crashes when the final ``read()`` fails on a kept index (it resizes
``None``); this version stops reading instead, so the benchmark can finish.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import cv2
import numpy as np
import torch

FRAME_INTERVAL = 30
FRAME_SIZE = (1024, 1024)
BATCH_SIZE = 24


def build_model(state_dict: dict[str, torch.Tensor], device: torch.device) -> torch.nn.Module:
    """torchvision Mask R-CNN with the stock settings the seed used, filled with ``state_dict``."""
    import torchvision

    model = torchvision.models.detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None)
    model.load_state_dict(state_dict)
    return model.eval().to(device)


def read_frames(path: str) -> list[np.ndarray]:
    frames: list[np.ndarray] = []
    capture = cv2.VideoCapture(path)
    index = 0
    success = capture.isOpened()
    while success:
        success, frame = capture.read()
        if not success:
            break
        if index % FRAME_INTERVAL == 0:
            frames.append(cv2.resize(frame, FRAME_SIZE, interpolation=cv2.INTER_AREA))
        index += 1
    capture.release()
    return frames


def handle(body: bytes, model: torch.nn.Module, device: torch.device, *, cleanup: bool = False) -> list[dict]:
    """One invocation: video bytes in, a JSON-ready list (one dict per kept frame) out."""
    with tempfile.NamedTemporaryFile(suffix=".mp4", delete=False) as handle_file:
        handle_file.write(body)
    try:
        frames = read_frames(handle_file.name)
    finally:
        if cleanup:
            os.unlink(handle_file.name)
    outputs: list[dict[str, Any]] = []
    with torch.no_grad():
        for start in range(0, len(frames), BATCH_SIZE):
            # ToTensor on a BGR uint8 array: HWC -> CHW, /255, channel order untouched.
            batch = [
                torch.from_numpy(f).permute(2, 0, 1).float().div(255.0).to(device)
                for f in frames[start : start + BATCH_SIZE]
            ]
            for prediction in model(batch):
                outputs.append(
                    {
                        "boxes": prediction["boxes"].cpu().tolist(),
                        "labels": prediction["labels"].cpu().tolist(),
                        "scores": prediction["scores"].cpu().tolist(),
                    }
                )
    return outputs
