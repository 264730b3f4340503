"""A SageMaker built-in SSD artifact as an ONNX file that ``reelsight.models.onnx_backend`` runs.

MXNet 1.9's own exporter (``mxnet.onnx.export_model``) converts the network, but it has no
converter for ``MultiBoxPrior`` or ``MultiBoxDetection``. So the export takes the network up to
the class scores and box offsets from the exporter, computes the anchors (which depend only on
the fixed input size) once, and writes the detection head as standard ONNX operators around it:
the pre-processing (0..1 RGB CHW in, the algorithm's mean subtracted), MultiBoxDetection's
decoding, its top-k, and its per-class NMS over each anchor's best class. The file has the
``detection-v1`` layout of ``reelsight export --onnx``: boxes in input pixels, labels, scores.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mxnet as mx
import numpy as np

from reelsight.edge import (
    LAYOUT_DETECTION,
    METADATA_CLASSES,
    METADATA_INPUT_SIZE,
    METADATA_LAYOUT,
    METADATA_MODEL,
    METADATA_SCORE_FLOOR,
    METADATA_TASK,
    METADATA_WEIGHTS,
)
from reelsight.errors import ModelError
from reelsight.mx import BUILTIN_SSD
from reelsight.mx.builtin_ssd import MEAN_RGB, BuiltinSSD

_SCORE_OPS = ("SoftmaxOutput", "softmax", "SoftmaxActivation")


@dataclass(frozen=True)
class DetectionHead:
    """What MultiBoxDetection is given, and its settings (MXNet's defaults where the symbol has none)."""

    cls_preds: mx.sym.Symbol  # (1, classes + 1, anchors), before the softmax
    loc_preds: mx.sym.Symbol  # (1, anchors * 4)
    anchors: mx.sym.Symbol  # (1, anchors, 4), relative corners
    threshold: float
    nms_threshold: float
    nms_topk: int
    variances: tuple[float, float, float, float]
    clip: bool


def export_builtin_ssd(predictor: BuiltinSSD, out_path: str | Path) -> Path:
    """Write ``predictor``'s network (a loaded built-in SSD artifact) as an ONNX file."""
    import onnx

    symbol = predictor.module.symbol
    arg_params, aux_params = predictor.module.get_params()
    params = {**arg_params, **aux_params}
    head = detection_head(symbol)
    size = predictor.image_shape
    anchors = _anchor_values(head.anchors, params, size)
    core = _export_core(head, params, size)
    model = _wrap(core, head, anchors, size)
    _set_metadata(model, predictor, head)
    onnx.checker.check_model(model)
    target = Path(out_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(target))
    return target


def detection_head(symbol: mx.sym.Symbol) -> DetectionHead:
    """The inputs and settings of the symbol's MultiBoxDetection node; ModelError when it has none."""
    nodes = json.loads(symbol.tojson())["nodes"]
    detections = [n for n in nodes if n["op"] == "_contrib_MultiBoxDetection"]
    if len(detections) != 1:
        raise ModelError(f"expected one MultiBoxDetection in the SSD symbol, found {len(detections)}")
    node = detections[0]
    attrs = node.get("attrs", {})
    if attrs.get("force_suppress", "False").lower() in ("true", "1"):
        raise ModelError("MultiBoxDetection with force_suppress=True has no ONNX export here")
    internals = symbol.get_internals()
    score, loc, anchor = (nodes[i[0]] for i in node["inputs"][:3])
    if score["op"] not in _SCORE_OPS:
        raise ModelError(f"the SSD's class scores come from {score['op']}, not a softmax")
    cls_preds = nodes[score["inputs"][0][0]]
    return DetectionHead(
        cls_preds=internals[f"{cls_preds['name']}_output"],
        loc_preds=internals[f"{loc['name']}_output"],
        anchors=internals[f"{anchor['name']}_output"],
        threshold=float(attrs.get("threshold", 0.01)),
        nms_threshold=float(attrs.get("nms_threshold", 0.5)),
        nms_topk=int(attrs.get("nms_topk", -1)),
        variances=_floats(attrs.get("variances", "(0.1, 0.1, 0.2, 0.2)")),
        clip=attrs.get("clip", "True").lower() in ("true", "1"),
    )


def _floats(text: str) -> tuple[float, float, float, float]:
    values = [float(v) for v in text.strip("()[] ").split(",") if v.strip()]
    if len(values) != 4:
        raise ModelError(f"MultiBoxDetection variances must be four numbers, got {text!r}")
    return values[0], values[1], values[2], values[3]


def _anchor_values(anchors: mx.sym.Symbol, params: dict[str, mx.nd.NDArray], size: int) -> np.ndarray:
    """The anchors at the fixed input size: (anchors, 4), relative corners."""
    inputs = {name: params[name] for name in anchors.list_arguments() if name in params}
    inputs["data"] = mx.nd.zeros((1, 3, size, size))
    (values,) = anchors.eval(ctx=mx.cpu(), **inputs)
    return np.asarray(values.asnumpy()[0], dtype=np.float32)


def _export_core(head: DetectionHead, params: dict[str, mx.nd.NDArray], size: int) -> Any:
    """The network from ``data`` to the class scores and box offsets, through MXNet's exporter."""
    import onnx

    core = mx.sym.Group([head.cls_preds, head.loc_preds])
    needed = set(core.list_arguments()) | set(core.list_auxiliary_states())
    kept = {name: value for name, value in params.items() if name in needed}
    with tempfile.TemporaryDirectory(prefix="reelsight-onnx-") as scratch:
        path = Path(scratch) / "core.onnx"
        try:
            mx.onnx.export_model(
                core, kept, in_shapes=[(1, 3, size, size)], in_types=[np.float32], onnx_file_path=str(path)
            )
        except Exception as exc:  # the exporter raises whatever a converter raises
            raise ModelError(
                f"MXNet's ONNX exporter failed on the SSD network: {type(exc).__name__}: {exc}"
            ) from None
        return onnx.load(str(path))


def _wrap(core: Any, head: DetectionHead, anchors: np.ndarray, size: int) -> Any:
    """``core`` with the pre-processing before it and MultiBoxDetection's work after it."""
    from onnx import TensorProto, helper

    data, cls_out, loc_out = core.graph.input[0].name, core.graph.output[0].name, core.graph.output[1].name
    count = anchors.shape[0]
    keep = count if head.nms_topk <= 0 else min(head.nms_topk, count)
    constants = _head_constants(head, anchors, size, keep)
    # The exporter declares the installed onnx's opset (its converters target 12 and 13); the head
    # is written for that same version.
    opset = max(o.version for o in core.opset_import if o.domain in ("", "ai.onnx"))
    nodes = [*_preprocess_nodes(data), *core.graph.node, *_decode_nodes(loc_out, head.clip)]
    nodes += _select_nodes(cls_out, opset)
    graph = helper.make_graph(
        nodes,
        "reelsight_builtin_ssd",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [3, size, size])],
        [
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["detections", 4]),
            helper.make_tensor_value_info("labels", TensorProto.INT64, ["detections"]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["detections"]),
        ],
        initializer=[*core.graph.initializer, *constants],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="reelsight")


def _head_constants(head: DetectionHead, anchors: np.ndarray, size: int, keep: int) -> list[Any]:
    from onnx import numpy_helper

    width, height = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    values: dict[str, np.ndarray] = {
        "rs_scale": np.array(255.0, np.float32),
        "rs_mean": MEAN_RGB.reshape(1, 3, 1, 1),
        "rs_axis0": np.array([0], np.int64),
        "rs_box_shape": np.array([1, -1, 4], np.int64),
        "rs_axis2": np.array([2], np.int64),
        **{f"rs_at{i}": np.array([i], np.int64) for i in range(5)},
        # Per anchor (1, A): centre and size, times the variances where MXNet multiplies them in.
        "rs_cx": ((anchors[:, 0] + anchors[:, 2]) / 2)[None],
        "rs_cy": ((anchors[:, 1] + anchors[:, 3]) / 2)[None],
        "rs_wv": (width * head.variances[0])[None],
        "rs_hv": (height * head.variances[1])[None],
        "rs_half_w": (width / 2)[None],
        "rs_half_h": (height / 2)[None],
        "rs_vw": np.array(head.variances[2], np.float32),
        "rs_vh": np.array(head.variances[3], np.float32),
        "rs_zero": np.array(0.0, np.float32),
        "rs_one": np.array(1.0, np.float32),
        "rs_size": np.array(float(size), np.float32),
        "rs_topk": np.array([keep], np.int64),
        "rs_fg_start": np.array([1], np.int64),
        "rs_fg_end": np.array([np.iinfo(np.int64).max], np.int64),
        "rs_axis1": np.array([1], np.int64),
        "rs_class_col": np.array([1], np.int64),
        "rs_box_col": np.array([2], np.int64),
        "rs_max_out": np.array([keep], np.int64),
        "rs_iou": np.array([head.nms_threshold], np.float32),
        "rs_score_floor": np.array([head.threshold], np.float32),
    }
    return [numpy_helper.from_array(np.asarray(v, dtype=v.dtype), name) for name, v in values.items()]


def _preprocess_nodes(data: str) -> list[Any]:
    """image (3, S, S) in 0..1 -> ``data``: (1, 3, S, S), 0..255 less the RGB mean."""
    from onnx import helper

    return [
        helper.make_node("Unsqueeze", ["image", "rs_axis0"], ["rs_batch"]),
        helper.make_node("Mul", ["rs_batch", "rs_scale"], ["rs_pixels"]),
        helper.make_node("Sub", ["rs_pixels", "rs_mean"], [data]),
    ]


def _decode_nodes(loc_out: str, clip: bool) -> list[Any]:
    """Box offsets -> corners in input pixels, (1, A, 4), as MultiBoxDetection decodes them."""
    from onnx import helper

    nodes = [
        helper.make_node("Reshape", [loc_out, "rs_box_shape"], ["rs_loc"]),
    ]
    for i, part in enumerate(("dx", "dy", "dw", "dh")):
        nodes.append(
            helper.make_node("Slice", ["rs_loc", f"rs_at{i}", f"rs_at{i + 1}", "rs_axis2"], [f"rs_{part}"])
        )
        nodes.append(helper.make_node("Squeeze", [f"rs_{part}", "rs_axis2"], [f"rs_{part}_a"]))
    nodes += [
        helper.make_node("Mul", ["rs_dx_a", "rs_wv"], ["rs_ox"]),
        helper.make_node("Add", ["rs_ox", "rs_cx"], ["rs_px"]),
        helper.make_node("Mul", ["rs_dy_a", "rs_hv"], ["rs_oy"]),
        helper.make_node("Add", ["rs_oy", "rs_cy"], ["rs_py"]),
        helper.make_node("Mul", ["rs_dw_a", "rs_vw"], ["rs_lw"]),
        helper.make_node("Exp", ["rs_lw"], ["rs_ew"]),
        helper.make_node("Mul", ["rs_ew", "rs_half_w"], ["rs_hw"]),
        helper.make_node("Mul", ["rs_dh_a", "rs_vh"], ["rs_lh"]),
        helper.make_node("Exp", ["rs_lh"], ["rs_eh"]),
        helper.make_node("Mul", ["rs_eh", "rs_half_h"], ["rs_hh"]),
        helper.make_node("Sub", ["rs_px", "rs_hw"], ["rs_x1"]),
        helper.make_node("Sub", ["rs_py", "rs_hh"], ["rs_y1"]),
        helper.make_node("Add", ["rs_px", "rs_hw"], ["rs_x2"]),
        helper.make_node("Add", ["rs_py", "rs_hh"], ["rs_y2"]),
    ]
    for corner in ("x1", "y1", "x2", "y2"):
        nodes.append(helper.make_node("Unsqueeze", [f"rs_{corner}", "rs_axis2"], [f"rs_{corner}_c"]))
    nodes.append(helper.make_node("Concat", ["rs_x1_c", "rs_y1_c", "rs_x2_c", "rs_y2_c"], ["rs_rel"], axis=2))
    if clip:
        nodes.append(helper.make_node("Clip", ["rs_rel", "rs_zero", "rs_one"], ["rs_clipped"]))
    nodes.append(helper.make_node("Mul", ["rs_clipped" if clip else "rs_rel", "rs_size"], ["rs_boxes_all"]))
    return nodes


def _reduce_max(source: str, target: str, opset: int, *, keepdims: int) -> Any:
    """ReduceMax over the class axis; its axes became an input in opset 18."""
    from onnx import helper

    if opset >= 18:
        return helper.make_node("ReduceMax", [source, "rs_axis1"], [target], keepdims=keepdims)
    return helper.make_node("ReduceMax", [source], [target], axes=[1], keepdims=keepdims)


def _select_nodes(cls_out: str, opset: int) -> list[Any]:
    """Each anchor's best class and score, the top k anchors, per-class NMS, and the kept rows."""
    from onnx import helper

    return [
        helper.make_node("Softmax", [cls_out], ["rs_prob"], axis=1),
        helper.make_node("Slice", ["rs_prob", "rs_fg_start", "rs_fg_end", "rs_axis1"], ["rs_fg"]),
        _reduce_max("rs_fg", "rs_best_k", opset, keepdims=1),
        # Only the anchor's best class competes, as in MultiBoxDetection.
        helper.make_node("Equal", ["rs_fg", "rs_best_k"], ["rs_is_best"]),
        helper.make_node("Cast", ["rs_is_best"], ["rs_best_mask"], to=1),
        helper.make_node("Mul", ["rs_fg", "rs_best_mask"], ["rs_class_scores"]),
        _reduce_max("rs_fg", "rs_best", opset, keepdims=0),
        helper.make_node("TopK", ["rs_best", "rs_topk"], ["rs_top_scores", "rs_top"], axis=1),
        helper.make_node("Squeeze", ["rs_top", "rs_axis0"], ["rs_top_index"]),
        helper.make_node("Gather", ["rs_boxes_all", "rs_top_index"], ["rs_boxes_k"], axis=1),
        helper.make_node("Gather", ["rs_class_scores", "rs_top_index"], ["rs_scores_k"], axis=2),
        helper.make_node(
            "NonMaxSuppression",
            ["rs_boxes_k", "rs_scores_k", "rs_max_out", "rs_iou", "rs_score_floor"],
            ["rs_selected"],
        ),
        helper.make_node("Gather", ["rs_selected", "rs_class_col"], ["rs_label_col"], axis=1),
        helper.make_node("Squeeze", ["rs_label_col", "rs_axis1"], ["labels"]),
        helper.make_node("Gather", ["rs_selected", "rs_box_col"], ["rs_box_col_k"], axis=1),
        helper.make_node("Squeeze", ["rs_box_col_k", "rs_axis1"], ["rs_box_index"]),
        helper.make_node("Squeeze", ["rs_boxes_k", "rs_axis0"], ["rs_boxes_flat"]),
        helper.make_node("Gather", ["rs_boxes_flat", "rs_box_index"], ["boxes"], axis=0),
        helper.make_node("GatherND", ["rs_scores_k", "rs_selected"], ["scores"]),
    ]


def _set_metadata(model: Any, predictor: BuiltinSSD, head: DetectionHead) -> None:
    from onnx import helper

    size = predictor.image_shape
    meta = {
        METADATA_MODEL: BUILTIN_SSD,
        METADATA_TASK: "detection",
        METADATA_CLASSES: json.dumps(list(predictor.class_names)),
        METADATA_INPUT_SIZE: f"{size}x{size}",
        METADATA_LAYOUT: LAYOUT_DETECTION,
        METADATA_WEIGHTS: str(predictor.weights_info.get("weights", "")),
        METADATA_SCORE_FLOOR: str(head.threshold),
    }
    helper.set_model_props(model, meta)
