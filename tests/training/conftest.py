"""Tiny CUB-style and COCO datasets written by the tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# (relative path, width, height, class id (1-based, CUB style), box x, y, w, h in pixels)
CUB_IMAGES = [
    ("001.Sparrow/a.jpg", 200, 100, 1, (20, 10, 100, 50)),
    ("001.Sparrow/b.jpg", 120, 160, 1, (0, 0, 60, 80)),
    ("002.Jay/c.jpg", 100, 100, 2, (50, 50, 60, 60)),  # reaches past the edge: clipped
    ("002.Jay/d.jpg", 64, 48, 2, (8, 8, 16, 16)),
    ("003.Finch/e.jpg", 80, 80, 3, (10, 20, 30, 40)),
    ("003.Finch/f.jpg", 90, 60, 3, (0, 0, 90, 60)),
]
CUB_CLASSES = ["001.Sparrow", "002.Jay", "003.Finch"]


def _image(path: Path, width: int, height: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, quality=90)


@pytest.fixture()
def cub_dir(tmp_path: Path) -> Path:
    root = tmp_path / "CUB"
    root.mkdir()
    lines: dict[str, list[str]] = {"images": [], "boxes": [], "labels": []}
    for i, (rel, w, h, cls, box) in enumerate(CUB_IMAGES, start=1):
        _image(root / "images" / rel, w, h, i)
        lines["images"].append(f"{i} {rel}")
        lines["boxes"].append(f"{i} " + " ".join(f"{v:.1f}" for v in box))
        lines["labels"].append(f"{i} {cls}")
    (root / "images.txt").write_text("\n".join(lines["images"]) + "\n")
    (root / "bounding_boxes.txt").write_text("\n".join(lines["boxes"]) + "\n")
    (root / "image_class_labels.txt").write_text("\n".join(lines["labels"]) + "\n")
    (root / "classes.txt").write_text("".join(f"{i} {n}\n" for i, n in enumerate(CUB_CLASSES, start=1)))
    return root


@pytest.fixture()
def coco_file(tmp_path: Path) -> Path:
    root = tmp_path / "coco"
    images = []
    for i, (w, h) in enumerate([(100, 50), (40, 40), (60, 30), (30, 60)], start=1):
        _image(root / "img" / f"{i}.jpg", w, h, 10 + i)
        images.append({"id": i, "file_name": f"img/{i}.jpg", "width": w, "height": h})
    annotations = [
        {"id": 1, "image_id": 1, "category_id": 7, "bbox": [10, 5, 40, 20], "iscrowd": 0},
        {"id": 2, "image_id": 1, "category_id": 3, "bbox": [50, 25, 50, 25], "iscrowd": 0},
        {"id": 3, "image_id": 2, "category_id": 3, "bbox": [0, 0, 40, 40], "iscrowd": 1},  # crowd: skipped
        {"id": 4, "image_id": 3, "category_id": 7, "bbox": [0, 0, 30, 15], "iscrowd": 0},
        {"id": 5, "image_id": 4, "category_id": 3, "bbox": [3, 6, 9, 12]},
    ]
    categories = [{"id": 7, "name": "kite"}, {"id": 3, "name": "car"}]
    path = root / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return path
