"""The models reelsight knows, as plain data.

Torch-free on purpose: the Lambdas, the API and the MXNet image read this module to
validate a model name or list the classes without loading a framework.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from reelsight.errors import ModelError

Task = Literal["instance_segmentation", "detection", "semantic_segmentation"]
Framework = Literal["torchvision", "onnx", "mxnet"]

# The 91-entry COCO category list in the order torchvision's detectors index it
# (index 0 is the background, "N/A" marks ids that COCO 2017 does not use).
COCO_CATEGORIES: tuple[str, ...] = (
    "__background__", "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck",
    "boat", "traffic light", "fire hydrant", "N/A", "stop sign", "parking meter", "bench", "bird",
    "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "N/A", "backpack",
    "umbrella", "N/A", "N/A", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard",
    "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "N/A", "wine glass", "cup", "fork", "knife", "spoon", "bowl",
    "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut",
    "cake", "chair", "couch", "potted plant", "bed", "N/A", "dining table", "N/A", "N/A", "toilet",
    "N/A", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave", "oven",
    "toaster", "sink", "refrigerator", "N/A", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)  # fmt: skip

# Pascal VOC, the 21 classes torchvision's DeepLabV3 weights predict.
VOC_CATEGORIES: tuple[str, ...] = (
    "__background__", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)  # fmt: skip

# The 19 Cityscapes training classes, in train-id order.
CITYSCAPES_CATEGORIES: tuple[str, ...] = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle",
    "bicycle",
)  # fmt: skip


@dataclass(frozen=True)
class ModelSpec:
    """What a model is, independent of how it is loaded.

    ``input_size`` is the (width, height) the model was trained around: the detectors
    resize internally (shorter side to ``input_size[1]``), the others expect frames
    near that size. ``builder`` names the torchvision constructor (empty for other
    frameworks).
    """

    name: str
    task: Task
    classes: tuple[str, ...]
    input_size: tuple[int, int]
    framework: Framework
    description: str
    aliases: tuple[str, ...] = ()
    builder: str = ""
    resizes_internally: bool = False

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def has_masks(self) -> bool:
        return self.task == "instance_segmentation"


_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="maskrcnn",
        task="instance_segmentation",
        classes=COCO_CATEGORIES,
        input_size=(1333, 800),
        framework="torchvision",
        description="Mask R-CNN, ResNet-50 FPN (COCO); boxes and instance masks",
        aliases=("maskrcnn_resnet50_fpn", "mask_rcnn"),
        builder="maskrcnn_resnet50_fpn",
        resizes_internally=True,
    ),
    ModelSpec(
        name="maskrcnn_v2",
        task="instance_segmentation",
        classes=COCO_CATEGORIES,
        input_size=(1333, 800),
        framework="torchvision",
        description="Mask R-CNN v2, ResNet-50 FPN, improved training recipe (COCO)",
        aliases=("maskrcnn_resnet50_fpn_v2",),
        builder="maskrcnn_resnet50_fpn_v2",
        resizes_internally=True,
    ),
    ModelSpec(
        name="fasterrcnn",
        task="detection",
        classes=COCO_CATEGORIES,
        input_size=(1333, 800),
        framework="torchvision",
        description="Faster R-CNN v2, ResNet-50 FPN (COCO); boxes only",
        aliases=("fasterrcnn_resnet50_fpn_v2", "faster_rcnn"),
        builder="fasterrcnn_resnet50_fpn_v2",
        resizes_internally=True,
    ),
    ModelSpec(
        name="retinanet",
        task="detection",
        classes=COCO_CATEGORIES,
        input_size=(1333, 800),
        framework="torchvision",
        description="RetinaNet v2, ResNet-50 FPN (COCO); single-stage boxes",
        aliases=("retinanet_resnet50_fpn_v2",),
        builder="retinanet_resnet50_fpn_v2",
        resizes_internally=True,
    ),
    ModelSpec(
        name="ssdlite",
        task="detection",
        classes=COCO_CATEGORIES,
        input_size=(320, 320),
        framework="torchvision",
        description="SSDlite 320, MobileNetV3-Large (COCO); fast, low accuracy",
        aliases=("ssdlite320_mobilenet_v3_large",),
        builder="ssdlite320_mobilenet_v3_large",
        resizes_internally=True,
    ),
    ModelSpec(
        name="deeplabv3_resnet50",
        task="semantic_segmentation",
        classes=VOC_CATEGORIES,
        input_size=(520, 520),
        framework="torchvision",
        description="DeepLabV3, ResNet-50 (COCO subset, VOC classes); per-pixel classes",
        builder="deeplabv3_resnet50",
    ),
    ModelSpec(
        name="deeplabv3_resnet101",
        task="semantic_segmentation",
        classes=VOC_CATEGORIES,
        input_size=(520, 520),
        framework="torchvision",
        description="DeepLabV3, ResNet-101 (COCO subset, VOC classes); per-pixel classes",
        builder="deeplabv3_resnet101",
    ),
    ModelSpec(
        name="deeplabv3_mobilenet_v3",
        task="semantic_segmentation",
        classes=VOC_CATEGORIES,
        input_size=(520, 520),
        framework="torchvision",
        description="DeepLabV3, MobileNetV3-Large (COCO subset, VOC classes); fast per-pixel classes",
        aliases=("deeplabv3_mobilenet_v3_large",),
        builder="deeplabv3_mobilenet_v3_large",
    ),
    ModelSpec(
        name="deeplab_resnet101_citys",
        task="semantic_segmentation",
        classes=CITYSCAPES_CATEGORIES,
        input_size=(2048, 1024),
        framework="mxnet",
        description="GluonCV DeepLab ResNet-101 (Cityscapes); runs in the MXNet image only",
    ),
    ModelSpec(
        name="builtin_ssd",
        task="detection",
        classes=(),
        input_size=(512, 512),
        framework="mxnet",
        description="SageMaker built-in SSD (MXNet); classes come from a labels file at load time",
    ),
)

REGISTRY: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}
_ALIASES: dict[str, str] = {alias: spec.name for spec in _SPECS for alias in spec.aliases}


def list_specs() -> list[ModelSpec]:
    return list(_SPECS)


def get_spec(name: str) -> ModelSpec:
    """The spec for ``name`` or one of its aliases; ModelError listing the choices otherwise."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    spec = REGISTRY.get(key)
    if spec is None:
        choices = ", ".join(REGISTRY)
        raise ModelError(f"unknown model {name!r}; choose one of: {choices}")
    return spec


def recommended_resize(spec: ModelSpec) -> tuple[str, tuple[int, int] | None]:
    """The (resize, size) sampling defaults that suit ``spec`` when the user chose none.

    Models that resize internally get the full decoded frame ("none"): resizing before
    them would only add a second interpolation. The others get frames fitted into their
    training size so that a 4K video does not run at 4K.
    """
    if spec.resizes_internally:
        return "none", None
    return "fit", spec.input_size


def resize_overrides(model: str) -> dict[str, str]:
    """``recommended_resize`` as ``RunOptions.with_overrides`` strings, for callers that got no resize."""
    resize, size = recommended_resize(get_spec(model))
    return {"resize": resize, **({"size": f"{size[0]}x{size[1]}"} if size else {})}
