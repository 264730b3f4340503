"""A small SSD with the shape of the SageMaker built-in Object Detection training output.

It has the training symbol's ``data`` and ``label`` inputs and its four heads (``cls_prob``,
``loc_loss``, ``cls_label``, ``det_out``), random seeded weights, and is saved as
``model_algo_1-symbol.json`` + ``model_algo_1-0000.params`` + ``hyperparams.json`` in a
``model.tar.gz``, the layout a training job uploads.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import mxnet as mx

PREFIX = "model_algo_1"
SIZES = ((0.2, 0.35), (0.5, 0.75))
RATIOS = (1.0, 2.0, 0.5)


def _conv(x: mx.sym.Symbol, name: str, filters: int, stride: int = 1) -> mx.sym.Symbol:
    x = mx.sym.Convolution(
        x, num_filter=filters, kernel=(3, 3), pad=(1, 1), stride=(stride, stride), name=name
    )
    return mx.sym.Activation(x, act_type="relu", name=f"{name}_relu")


def training_symbol(num_classes: int) -> mx.sym.Symbol:
    data = mx.sym.Variable("data")
    label = mx.sym.Variable("label")
    x = _conv(data, "stem1", 8, 2)
    x = _conv(x, "stem2", 16, 2)
    feat1 = _conv(x, "feat1", 16, 2)
    feat2 = _conv(feat1, "feat2", 16, 2)
    num_anchors = len(SIZES[0]) + len(RATIOS) - 1
    cls_parts, loc_parts, anchor_parts = [], [], []
    for i, (feat, sizes) in enumerate(zip((feat1, feat2), SIZES, strict=True)):
        cls = mx.sym.Convolution(
            feat, num_filter=num_anchors * (num_classes + 1), kernel=(3, 3), pad=(1, 1), name=f"cls_pred{i}"
        )
        loc = mx.sym.Convolution(
            feat, num_filter=num_anchors * 4, kernel=(3, 3), pad=(1, 1), name=f"loc_pred{i}"
        )
        cls_parts.append(mx.sym.flatten(mx.sym.transpose(cls, axes=(0, 2, 3, 1))))
        loc_parts.append(mx.sym.flatten(mx.sym.transpose(loc, axes=(0, 2, 3, 1))))
        anchors = mx.sym.contrib.MultiBoxPrior(
            feat, sizes=sizes, ratios=RATIOS, clip=True, name=f"anchors{i}"
        )
        anchor_parts.append(mx.sym.flatten(anchors))
    cls_preds = mx.sym.transpose(
        mx.sym.reshape(mx.sym.concat(*cls_parts, dim=1), shape=(0, -1, num_classes + 1)), axes=(0, 2, 1)
    )
    loc_preds = mx.sym.concat(*loc_parts, dim=1, name="multibox_loc_pred")
    anchor_boxes = mx.sym.reshape(
        mx.sym.concat(*anchor_parts, dim=1), shape=(0, -1, 4), name="multibox_anchors"
    )
    target = mx.sym.contrib.MultiBoxTarget(
        anchor_boxes,
        label,
        cls_preds,
        overlap_threshold=0.5,
        negative_mining_ratio=3,
        variances=(0.1, 0.1, 0.2, 0.2),
    )
    loc_target, loc_mask, cls_target = target[0], target[1], target[2]
    cls_prob = mx.sym.SoftmaxOutput(
        data=cls_preds,
        label=cls_target,
        ignore_label=-1,
        use_ignore=True,
        multi_output=True,
        normalization="valid",
        name="cls_prob",
    )
    loc_diff = loc_mask * (loc_preds - loc_target)
    loc_loss = mx.sym.MakeLoss(mx.sym.smooth_l1(loc_diff, scalar=1.0), normalization="valid", name="loc_loss")
    cls_label = mx.sym.MakeLoss(cls_target, grad_scale=0, name="cls_label")
    det = mx.sym.contrib.MultiBoxDetection(
        cls_prob,
        loc_preds,
        anchor_boxes,
        name="detection",
        nms_threshold=0.45,
        force_suppress=False,
        variances=(0.1, 0.1, 0.2, 0.2),
        nms_topk=400,
    )
    det = mx.sym.MakeLoss(det, grad_scale=0, name="det_out")
    return mx.sym.Group([cls_prob, loc_loss, cls_label, det])


def write_artifact(
    directory: Path,
    *,
    class_names: list[str],
    image_shape: int = 128,
    seed: int = 0,
    labels_inside: bool = True,
) -> Path:
    """Write ``directory/model.tar.gz``; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    work = directory / "files"
    work.mkdir(exist_ok=True)
    symbol = training_symbol(len(class_names))
    mx.random.seed(seed)
    module = mx.mod.Module(symbol, data_names=("data",), label_names=("label",), context=mx.cpu())
    module.bind(
        data_shapes=[("data", (1, 3, image_shape, image_shape))],
        label_shapes=[("label", (1, 1, 5))],
        for_training=False,
    )
    module.init_params(initializer=mx.init.Xavier(magnitude=2.0))
    arg_params, aux_params = module.get_params()
    mx.model.save_checkpoint(str(work / PREFIX), 0, symbol, arg_params, aux_params)
    hyper = {
        "num_classes": str(len(class_names)),
        "image_shape": str(image_shape),
        "base_network": "tiny",
        "mini_batch_size": "1",
        "epochs": "1",
    }
    (work / "hyperparams.json").write_text(json.dumps(hyper), encoding="utf-8")
    members = [f"{PREFIX}-symbol.json", f"{PREFIX}-0000.params", "hyperparams.json"]
    if labels_inside:
        (work / "labels.txt").write_text("\n".join(class_names) + "\n", encoding="utf-8")
        members.append("labels.txt")
    archive = directory / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in members:
            tar.add(work / name, arcname=name)
    return archive
