"""The registry: names, classes, aliases; import walls: pyproject.toml and tests/core/test_import_walls."""

from __future__ import annotations

import pytest

from reelsight.errors import ModelError
from reelsight.models.registry import (
    CITYSCAPES_CATEGORIES,
    COCO_CATEGORIES,
    REGISTRY,
    VOC_CATEGORIES,
    get_spec,
    recommended_resize,
)

TORCHVISION_MODELS = [s.name for s in REGISTRY.values() if s.framework == "torchvision"]


def test_required_names_are_registered() -> None:
    expected = {
        "maskrcnn",
        "maskrcnn_v2",
        "fasterrcnn",
        "retinanet",
        "ssdlite",
        "deeplabv3_resnet50",
        "deeplabv3_resnet101",
        "deeplabv3_mobilenet_v3",
        "deeplab_resnet101_citys",
        "builtin_ssd",
    }
    assert set(REGISTRY) == expected


def test_class_lists_match_torchvision_metadata() -> None:
    from torchvision.models import _meta

    assert tuple(_meta._COCO_CATEGORIES) == COCO_CATEGORIES
    assert tuple(_meta._VOC_CATEGORIES) == VOC_CATEGORIES
    assert (
        len(COCO_CATEGORIES) == 91
        and COCO_CATEGORIES[0] == "__background__"
        and COCO_CATEGORIES[1] == "person"
    )
    assert len(CITYSCAPES_CATEGORIES) == 19 and CITYSCAPES_CATEGORIES[:2] == ("road", "sidewalk")


@pytest.mark.parametrize("name", TORCHVISION_MODELS)
def test_builders_exist_and_weights_categories_agree(name: str) -> None:
    import torchvision

    spec = get_spec(name)
    weights = torchvision.models.get_model_weights(spec.builder).DEFAULT
    assert tuple(weights.meta["categories"]) == spec.classes


def test_aliases_and_case_resolve() -> None:
    assert get_spec("MaskRCNN").name == "maskrcnn"
    assert get_spec("fasterrcnn_resnet50_fpn_v2").name == "fasterrcnn"
    assert get_spec("ssdlite320_mobilenet_v3_large").name == "ssdlite"


def test_unknown_model_lists_choices() -> None:
    with pytest.raises(ModelError, match="unknown model 'yolo'.*maskrcnn.*deeplabv3_resnet50"):
        get_spec("yolo")


def test_mxnet_models_refuse_to_load_here() -> None:
    from reelsight.models import load_predictor

    for name in ("deeplab_resnet101_citys", "builtin_ssd"):
        with pytest.raises(ModelError, match="MXNet image"):
            load_predictor(name, weights="random")


def test_recommended_resize() -> None:
    assert recommended_resize(get_spec("maskrcnn")) == ("none", None)
    assert recommended_resize(get_spec("deeplabv3_resnet50")) == ("fit", (520, 520))
