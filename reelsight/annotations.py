"""Bounding-box annotations for MXNet ``im2rec`` listing files (.lst).

A detection line is tab-separated::

    index <TAB> 2 <TAB> 5 <TAB> cls xmin ymin xmax ymax [cls xmin ...] <TAB> image_path

with a header of width 2 (the header width itself and the label width), label width 5,
then one group of five values per object, coordinates relative to the image size (0..1),
and the image path last. Every value is its own tab-separated field.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reelsight.results import FrameResult

HEADER_WIDTH = 2
LABEL_WIDTH = 5

Label = tuple[float, float, float, float, float]  # class, xmin, ymin, xmax, ymax


def _clip01(value: float) -> float:
    return min(max(value, 0.0), 1.0)


def xywh_to_relative_xyxy(
    x: float, y: float, w: float, h: float, img_w: float, img_h: float
) -> tuple[float, float, float, float]:
    """Pixel ``x, y, width, height`` -> ``xmin, ymin, xmax, ymax`` as fractions of the image.

    Values are clipped to 0..1 (a box may reach past the image edge).
    """
    if img_w <= 0 or img_h <= 0:
        raise ValueError(f"image size must be positive, got {img_w}x{img_h}")
    if w < 0 or h < 0:
        raise ValueError(f"box width and height must be >= 0, got {w}x{h}")
    return (
        _clip01(x / img_w),
        _clip01(y / img_h),
        _clip01((x + w) / img_w),
        _clip01((y + h) / img_h),
    )


def xyxy_to_relative(
    x1: float, y1: float, x2: float, y2: float, img_w: float, img_h: float
) -> tuple[float, float, float, float]:
    """Pixel corners -> relative corners (clipped to 0..1)."""
    return xywh_to_relative_xyxy(x1, y1, x2 - x1, y2 - y1, img_w, img_h)


def _number(value: float) -> str:
    """Integral values without a fraction ("3"), others with up to 6 decimals ("0.25")."""
    value = float(value)
    if value.is_integer():
        return str(int(value))
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@dataclass(frozen=True)
class LstRecord:
    index: int
    labels: list[Label]
    path: str
    header_width: int = HEADER_WIDTH
    label_width: int = LABEL_WIDTH
    extra_header: list[float] = field(default_factory=list)  # header values past the first two

    def to_line(self) -> str:
        return lst_line(self.index, self.labels, self.path)


def lst_line(index: int, labels: Iterable[Label], path: str) -> str:
    """One .lst line (no newline) for an image with boxes ``(cls, xmin, ymin, xmax, ymax)``."""
    if "\t" in path or "\n" in path:
        raise ValueError(f"image path must not contain tabs or newlines: {path!r}")
    fields = [str(int(index)), str(HEADER_WIDTH), str(LABEL_WIDTH)]
    for label in labels:
        if len(label) != LABEL_WIDTH:
            raise ValueError(
                f"each label needs {LABEL_WIDTH} values (cls xmin ymin xmax ymax), got {label!r}"
            )
        cls, *coords = label
        if any(not 0.0 <= float(c) <= 1.0 for c in coords):
            raise ValueError(f"coordinates must be relative (0..1), got {coords!r}")
        fields.extend(_number(v) for v in (cls, *coords))
    fields.append(path)
    return "\t".join(fields)


def parse_lst_line(line: str) -> LstRecord:
    """Parse one .lst line; ValueError explains what is malformed."""
    parts = line.rstrip("\r\n").split("\t")
    if len(parts) < 4:
        raise ValueError(f"expected index, header width, label width, labels and path; got {line!r}")
    try:
        index = int(float(parts[0]))
        numbers = [float(p) for p in parts[1:-1]]
    except ValueError:
        raise ValueError(f"non-numeric field in {line!r}") from None
    header_width, label_width = int(numbers[0]), int(numbers[1])
    if header_width < 2 or label_width < 1 or header_width > len(numbers):
        raise ValueError(f"bad header (width {header_width}, label width {label_width}) in {line!r}")
    values = numbers[header_width:]
    if len(values) % label_width:
        raise ValueError(f"{len(values)} label values are not a multiple of label width {label_width}")
    if label_width != LABEL_WIDTH:
        raise ValueError(
            f"only label width {LABEL_WIDTH} (cls xmin ymin xmax ymax) is supported, got {label_width}"
        )
    labels: list[Label] = []
    for i in range(0, len(values), LABEL_WIDTH):
        cls, x1, y1, x2, y2 = values[i : i + LABEL_WIDTH]
        labels.append((cls, x1, y1, x2, y2))
    return LstRecord(
        index=index,
        labels=labels,
        path=parts[-1],
        header_width=header_width,
        label_width=label_width,
        extra_header=numbers[2:header_width],
    )


def write_lst(path: str | Path, records: Iterable[LstRecord]) -> int:
    """Write a .lst file; returns the number of lines."""
    count = 0
    with Path(path).open("w", encoding="utf-8", newline="\n") as handle:
        for record in records:
            handle.write(record.to_line() + "\n")
            count += 1
    return count


def read_lst(path: str | Path) -> Iterator[LstRecord]:
    """Yield the records of a .lst file; errors name the file and line number."""
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield parse_lst_line(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: {exc}") from None


def frame_labels(
    frame: FrameResult, class_ids: Mapping[str, int] | None = None, *, min_score: float = 0.0
) -> list[Label]:
    """A frame's detections as relative .lst labels.

    ``class_ids`` renumbers classes by name (a training set's own ids); names missing from
    it are skipped. Without it, the detector's label ids are kept.
    """
    detections = frame.detections
    if detections is None:
        return []
    labels: list[Label] = []
    for box, label, score, name in zip(
        detections.xyxy, detections.labels, detections.scores, detections.class_names, strict=True
    ):
        if float(score) < min_score:
            continue
        if class_ids is not None:
            if name not in class_ids:
                continue
            cls = float(class_ids[name])
        else:
            cls = float(label)
        bx1, by1, bx2, by2 = (float(v) for v in box)
        x1, y1, x2, y2 = xyxy_to_relative(bx1, by1, bx2, by2, frame.width, frame.height)
        labels.append((cls, x1, y1, x2, y2))
    return labels
