"""A detector of the coloured boxes in ``reelsight.testing.videos`` frames, for tests and benchmarks.

It finds the red box as a ``person`` and the green and blue ones as ``car`` in the decoded pixels
(box and mask per colour found), so whatever follows it (tracking, pictures, the API) works on what
a detector sees, with no model weights. It has the predictor interface ``run_video`` drives.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reelsight.models.registry import get_spec
from reelsight.results import Detections, FrameResult, mask_to_rle

# videos.frame_image draws these three colours, in this order (k = 0, 1, 2).
COLOURS: dict[str, list[tuple[int, int, int]]] = {
    "person": [(220, 40, 40)],
    "car": [(40, 200, 60), (50, 80, 230)],
}
CLASS_IDS = {"person": 1, "car": 3}  # COCO ids, as the torchvision detectors number them
TOLERANCE = 50  # per channel: H.264 shifts colours a little
MIN_PIXELS = 20


class ColourBoxes:
    """Predictor-shaped: ``spec``, ``classes``, ``weights_info``, ``device``, ``precision``, ``predict``."""

    def __init__(self, model: str = "maskrcnn") -> None:
        self.spec = get_spec(model)
        self.classes = self.spec.classes
        self.weights_info = {"weights": "colour-boxes", "weights_source": __name__, "random_weights": False}
        self.device = "cpu"
        self.precision = "fp32"

    def predict(self, frames: list[Any], *, with_masks: bool = True) -> list[FrameResult]:
        return [self._one(frame, with_masks) for frame in frames]

    def _one(self, frame: Any, with_masks: bool) -> FrameResult:
        image = np.asarray(frame.image).astype(np.int16)
        boxes: list[list[int]] = []
        names: list[str] = []
        masks: list[dict[str, Any]] = []
        for name, colours in COLOURS.items():
            for colour in colours:
                mask = np.all(np.abs(image - np.array(colour)) < TOLERANCE, axis=2)
                if mask.sum() < MIN_PIXELS:
                    continue
                ys, xs = np.nonzero(mask)
                boxes.append([int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1])
                names.append(name)
                masks.append(mask_to_rle(mask))
        detections = Detections(
            xyxy=np.array(boxes, np.float32).reshape(-1, 4),
            labels=np.array([CLASS_IDS[n] for n in names], np.int64),
            scores=np.linspace(0.95, 0.9, len(names)),
            class_names=names,
            masks=masks if with_masks else None,
        )
        return FrameResult.from_frame(frame, detections=detections)
