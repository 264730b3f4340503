"""Object detection datasets -> im2rec ``.lst`` files and RecordIO for the built-in algorithm.

Two input layouts are read:

* CUB-200-2011 style: ``images.txt`` (``id path``), ``bounding_boxes.txt`` (``id x y w h``
  in pixels), ``image_class_labels.txt`` (``id class_id``), ``classes.txt``
  (``class_id name``) and the images under ``images/``; when the folder also has CUB's own
  ``train_test_split.txt`` (``id is_training_image``), that split is used instead of a random one;
* COCO JSON: ``images`` (``id, file_name, width, height``), ``annotations`` (``image_id,
  bbox [x, y, w, h], category_id, iscrowd``) and ``categories`` (``id, name``).

Class ids become contiguous (0..n-1, in the order of the original ids) and boxes relative
``xmin ymin xmax ymax`` (``reelsight.annotations``).
"""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reelsight.annotations import Label, LstRecord, lst_line, read_lst, xywh_to_relative_xyxy
from reelsight.errors import ParamError
from reelsight.training.recordio import IndexedRecordWriter, pack_image_record

LABEL_HEADER = (2.0, 5.0)  # header width, label width: what im2rec --pack-label writes first


@dataclass
class Sample:
    path: str  # relative to the image root, forward slashes
    width: int
    height: int
    labels: list[Label] = field(default_factory=list)
    is_train: bool | None = None  # the dataset's own split, when it has one


@dataclass
class Dataset:
    image_root: Path
    classes: list[str]
    samples: list[Sample]
    skipped: list[str] = field(default_factory=list)  # human-readable reasons

    @property
    def has_own_split(self) -> bool:
        return bool(self.samples) and all(s.is_train is not None for s in self.samples)


def _rows(path: Path, columns: int) -> Iterable[tuple[int, list[str]]]:
    if not path.is_file():
        raise ParamError(f"missing annotation file {path}")
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=columns - 1)
        if len(parts) != columns:
            raise ParamError(f"{path}:{number}: expected {columns} fields, got {line!r}")
        yield number, parts


def image_size(path: Path) -> tuple[int, int]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.size
    except FileNotFoundError:
        raise ParamError(f"image not found: {path}") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise ParamError(f"not an image: {path} ({exc})") from None


def _select_classes(all_classes: dict[int, str], wanted: Sequence[str] | None) -> dict[int, int]:
    """Original class id -> contiguous id, keeping ``wanted`` (names or ids) when given."""
    ids = sorted(all_classes)
    if wanted:
        by_name = {name: cid for cid, name in all_classes.items()}
        chosen = []
        for item in wanted:
            if item in by_name:
                chosen.append(by_name[item])
            elif item.isdigit() and int(item) in all_classes:
                chosen.append(int(item))
            else:
                raise ParamError(f"unknown class {item!r}; the dataset has {len(all_classes)} classes")
        ids = sorted(set(chosen))
    return {cid: i for i, cid in enumerate(ids)}


def _read_cub_split(path: Path, image_ids: Iterable[int]) -> dict[int, bool] | None:
    """CUB's ``train_test_split.txt`` (``id 1|0``), or None when the folder has none."""
    if not path.is_file():
        return None
    flags: dict[int, bool] = {}
    for number, (image_id, flag) in _rows(path, 2):
        if flag.strip() not in ("0", "1") or not image_id.isdigit():
            raise ParamError(f"{path}:{number}: expected 'image_id 1|0', got {image_id} {flag.strip()}")
        flags[int(image_id)] = flag.strip() == "1"
    missing = [iid for iid in image_ids if iid not in flags]
    if missing:
        raise ParamError(f"{path}: no line for image id {missing[0]} ({len(missing)} image(s) missing)")
    return flags


def read_cub(root: str | Path, *, classes: Sequence[str] | None = None) -> Dataset:
    """A CUB-200-2011 style folder (see the module docstring); one box per image."""
    base = Path(root)
    try:
        names = {int(cid): name.strip() for _, (cid, name) in _rows(base / "classes.txt", 2)}
        paths = {int(iid): p.strip() for _, (iid, p) in _rows(base / "images.txt", 2)}
        image_classes = {int(i): int(c) for _, (i, c) in _rows(base / "image_class_labels.txt", 2)}
    except ValueError as exc:
        raise ParamError(f"{base}: ids must be integers ({exc})") from None
    train_flags = _read_cub_split(base / "train_test_split.txt", paths)
    mapping = _select_classes(names, classes)
    boxes: dict[int, list[tuple[float, float, float, float]]] = {}
    for number, (image_id, x, y, w, h) in _rows(base / "bounding_boxes.txt", 5):
        try:
            boxes.setdefault(int(image_id), []).append((float(x), float(y), float(w), float(h)))
        except ValueError:
            raise ParamError(f"{base / 'bounding_boxes.txt'}:{number}: non-numeric box") from None
    image_root = base / "images"
    samples: list[Sample] = []
    skipped: list[str] = []
    for iid in sorted(paths):
        cid = image_classes.get(iid)
        if cid is None:
            raise ParamError(f"image {iid} ({paths[iid]}) has no line in image_class_labels.txt")
        if cid not in mapping:
            continue
        if iid not in boxes:
            skipped.append(f"{paths[iid]}: no bounding box")
            continue
        width, height = image_size(image_root / paths[iid])
        labels: list[Label] = []
        for box in boxes[iid]:
            x1, y1, x2, y2 = xywh_to_relative_xyxy(*box, width, height)
            labels.append((float(mapping[cid]), x1, y1, x2, y2))
        is_train = None if train_flags is None else train_flags[iid]
        samples.append(Sample(path=paths[iid], width=width, height=height, labels=labels, is_train=is_train))
    return Dataset(
        image_root=image_root, classes=[names[c] for c in mapping], samples=samples, skipped=skipped
    )


def read_coco(
    annotations: str | Path, *, image_root: str | Path | None = None, classes: Sequence[str] | None = None
) -> Dataset:
    """A COCO detection JSON; images without (non-crowd) boxes are skipped and reported."""
    path = Path(annotations)
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        categories = {int(c["id"]): str(c["name"]) for c in data["categories"]}
        images = {int(i["id"]): i for i in data["images"]}
        anns = list(data.get("annotations") or [])
    except FileNotFoundError:
        raise ParamError(f"annotations file not found: {path}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ParamError(f"{path}: not a COCO detection file ({exc!r})") from None
    mapping = _select_classes(categories, classes)
    root = Path(image_root) if image_root else path.parent
    per_image: dict[int, list[Label]] = {}
    for ann in anns:
        try:
            iid, cid = int(ann["image_id"]), int(ann["category_id"])
            x, y, w, h = (float(v) for v in ann["bbox"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ParamError(f"{path}: malformed annotation {ann!r} ({exc!r})") from None
        if iid not in images:
            raise ParamError(f"{path}: annotation for unknown image id {iid}")
        if ann.get("iscrowd") or cid not in mapping:
            continue
        image = images[iid]
        width, height = int(image.get("width") or 0), int(image.get("height") or 0)
        if not width or not height:
            width, height = image_size(root / image["file_name"])
            image["width"], image["height"] = width, height
        rel = xywh_to_relative_xyxy(x, y, w, h, width, height)
        per_image.setdefault(iid, []).append((float(mapping[cid]), *rel))
    samples: list[Sample] = []
    skipped: list[str] = []
    for iid in sorted(images):
        image = images[iid]
        if iid not in per_image:
            skipped.append(f"{image['file_name']}: no boxes of the selected classes")
            continue
        samples.append(
            Sample(
                path=str(image["file_name"]),
                width=int(image["width"]),
                height=int(image["height"]),
                labels=per_image[iid],
            )
        )
    return Dataset(
        image_root=root, classes=[categories[c] for c in mapping], samples=samples, skipped=skipped
    )


def split(samples: Sequence[Sample], val_fraction: float, seed: int) -> tuple[list[Sample], list[Sample]]:
    """A reproducible shuffle, then the first ``val_fraction`` (at least one image) to validation."""
    if not 0.0 < val_fraction < 1.0:
        raise ParamError(f"the validation fraction must be between 0 and 1, got {val_fraction}")
    if len(samples) < 2:
        raise ParamError(f"need at least 2 annotated images to split, got {len(samples)}")
    order = list(samples)
    random.Random(seed).shuffle(order)
    n_val = min(max(1, round(len(order) * val_fraction)), len(order) - 1)
    return order[n_val:], order[:n_val]


def own_split(samples: Sequence[Sample]) -> tuple[list[Sample], list[Sample]]:
    """The dataset's own train/validation split (CUB's ``train_test_split.txt``)."""
    train = [s for s in samples if s.is_train]
    val = [s for s in samples if not s.is_train]
    if not train or not val:
        side = "training" if not train else "validation"
        raise ParamError(
            f"the dataset's own split leaves no {side} image for the selected classes; "
            "use --random-split to split by --val-fraction instead"
        )
    return train, val


def write_lst_file(path: Path, samples: Sequence[Sample]) -> int:
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for index, sample in enumerate(samples):
            handle.write(lst_line(index, sample.labels, sample.path) + "\n")
    return len(samples)


def encode_image(path: Path, resize: int | None, quality: int) -> bytes:
    """JPEG bytes of ``path``; ``resize`` scales the shorter side to that many pixels (im2rec --resize)."""
    from PIL import Image

    with Image.open(path) as image:
        rgb = image.convert("RGB")
    if resize:
        w, h = rgb.size
        scale = resize / min(w, h)
        rgb = rgb.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    rgb.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def write_recordio(
    lst_path: Path, image_root: Path, rec_path: Path, *, resize: int | None = None, quality: int = 95
) -> int:
    """Pack the images of a ``.lst`` file, labels included, into ``rec_path`` and its ``.idx``."""
    records: list[LstRecord] = list(read_lst(lst_path))
    with IndexedRecordWriter(rec_path, rec_path.with_suffix(".idx")) as writer:
        for record in records:
            labels = [*LABEL_HEADER, *(v for label in record.labels for v in label)]
            image = encode_image(image_root / record.path, resize, quality)
            writer.write(record.index, pack_image_record(record.index, labels, image))
    return len(records)


@dataclass(frozen=True)
class BuiltFiles:
    train_lst: Path
    val_lst: Path
    train_rec: Path | None
    val_rec: Path | None
    classes_file: Path
    train_count: int
    val_count: int
    skipped: list[str]


def build(
    dataset: Dataset,
    out_dir: str | Path,
    *,
    val_fraction: float = 0.2,
    seed: int = 0,
    prefix: str = "dataset",
    recordio: bool = True,
    resize: int | None = None,
    quality: int = 95,
    random_split: bool = False,
) -> BuiltFiles:
    """Split (the dataset's own split unless ``random_split``), write ``<prefix>_train.lst``/
    ``<prefix>_val.lst``, ``classes.txt`` and (optionally) RecordIO."""
    if not dataset.samples:
        raise ParamError("no annotated image to write (check the class selection)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if dataset.has_own_split and not random_split:
        train, val = own_split(dataset.samples)
    else:
        train, val = split(dataset.samples, val_fraction, seed)
    train_lst, val_lst = out / f"{prefix}_train.lst", out / f"{prefix}_val.lst"
    write_lst_file(train_lst, train)
    write_lst_file(val_lst, val)
    classes_file = out / "classes.txt"
    classes_file.write_text("\n".join(dataset.classes) + "\n", encoding="utf-8")
    train_rec = val_rec = None
    if recordio:
        train_rec, val_rec = out / f"{prefix}_train.rec", out / f"{prefix}_val.rec"
        write_recordio(train_lst, dataset.image_root, train_rec, resize=resize, quality=quality)
        write_recordio(val_lst, dataset.image_root, val_rec, resize=resize, quality=quality)
    return BuiltFiles(
        train_lst, val_lst, train_rec, val_rec, classes_file, len(train), len(val), list(dataset.skipped)
    )
