"""Edge deployment: exporting reelsight's torchvision models to ONNX (see docs/edge.md).

The exported file carries what a host needs to use it without reelsight's model code:
its input size, task, class names and output layout, as ONNX metadata (``METADATA_*``).
``reelsight.models.onnx_backend`` runs such a file with onnxruntime.
"""

from __future__ import annotations

METADATA_MODEL = "reelsight.model"
METADATA_TASK = "reelsight.task"
METADATA_CLASSES = "reelsight.classes"
METADATA_INPUT_SIZE = "reelsight.input_size"
METADATA_LAYOUT = "reelsight.layout"
METADATA_WEIGHTS = "reelsight.weights_source"
METADATA_SCORE_FLOOR = "reelsight.score_floor"

# Output layouts. detection: one CHW float image in, boxes/labels/scores(/masks) out.
# semantic: NCHW float images in (normalised inside the graph), per-class logits out.
LAYOUT_DETECTION = "detection-v1"
LAYOUT_SEMANTIC = "semantic-v1"
