"""Drawing results on frames: annotated images, contact sheets and an H.264 preview.

numpy + Pillow for drawing, PyAV for the preview; no torch. Results are in source
pixels; ``annotate`` maps them onto the image it is given (which may be resized).
"""

from __future__ import annotations

import colorsys
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from reelsight.frames import FrameTransform
from reelsight.results import Detections, FrameResult, rle_to_mask

MASK_ALPHA = 0.45
SEMANTIC_ALPHA = 0.5

# Cityscapes' 19 training classes, in train-id order, with their customary colours.
CITYSCAPES_CLASSES: tuple[str, ...] = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
)  # fmt: skip
CITYSCAPES_PALETTE = np.array(
    [
        (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
        (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
        (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100),
        (0, 80, 100), (0, 0, 230), (119, 11, 32),
    ],
    dtype=np.uint8,
)  # fmt: skip


def voc_palette(n: int = 256) -> np.ndarray:
    """The PASCAL VOC colour map (class id bits spread over R, G, B), (n, 3) uint8."""
    palette = np.zeros((n, 3), dtype=np.uint8)
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette[i] = (r, g, b)
    return palette


VOC_PALETTE = voc_palette()


def semantic_palette(classes: Sequence[str] | None) -> np.ndarray:
    """Cityscapes colours for street-scene class lists, VOC colours otherwise; (256, 3) uint8."""
    palette = VOC_PALETTE.copy()
    if classes and {"road", "sidewalk"} <= set(classes):
        palette[: len(CITYSCAPES_PALETTE)] = CITYSCAPES_PALETTE
        palette[255] = 0  # the customary "ignore" id
    return palette


def class_colour(label: int) -> tuple[int, int, int]:
    """A bright colour per class id, well apart for neighbouring ids (golden-ratio hues)."""
    hue = (int(label) * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def track_colour(track_id: int) -> tuple[int, int, int]:
    """One colour per track, the same in every frame; slightly darker than the class colours."""
    hue = (int(track_id) * 0.618033988749895 + 0.3) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.9, 0.9)
    return int(r * 255), int(g * 255), int(b * 255)


def _detection_styles(detections: Detections) -> list[tuple[tuple[int, int, int], str]]:
    """(colour, label prefix) per detection: the track's colour and ``#id`` when it has a track."""
    ids = detections.track_ids or [None] * len(detections)
    return [
        (track_colour(tid), f"#{tid} ") if tid is not None else (class_colour(int(label)), "")
        for label, tid in zip(detections.labels, ids, strict=True)
    ]


def colourize(class_map: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """(H, W) class ids -> (H, W, 3) RGB."""
    return palette[np.asarray(class_map, dtype=np.uint8)]


# --- Mapping source pixels onto the drawn image ----------------------------------------------


def _mapping(frame: FrameResult, image: np.ndarray, transform: FrameTransform | None) -> FrameTransform:
    """Source -> image transform: the given one, or a plain scale when the image was resized."""
    if transform is not None:
        return transform
    h, w = image.shape[:2]
    return FrameTransform(
        w / max(frame.width, 1), h / max(frame.height, 1), 0.0, 0.0, (frame.width, frame.height)
    )


def _source_grid(t: FrameTransform, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """For each image column/row, the continuous source coordinate of its pixel centre."""
    xs = (np.arange(width) + 0.5 - t.offset_x) / t.scale_x
    ys = (np.arange(height) + 0.5 - t.offset_y) / t.scale_y
    return xs, ys


def _sample(grid: np.ndarray, size: int, source_extent: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices into a map of ``size`` covering ``source_extent`` source pixels, and validity."""
    idx = np.floor(grid * size / max(source_extent, 1)).astype(np.int64)
    valid = (idx >= 0) & (idx < size) & (grid >= 0) & (grid < source_extent)
    return np.clip(idx, 0, size - 1), valid


def warp_to_image(
    source_map: np.ndarray, frame: FrameResult, t: FrameTransform, width: int, height: int
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest-neighbour resample a per-pixel map that covers the source frame onto the image.

    Returns (values (H, W[, C]), valid (H, W)); ``valid`` is False where the image shows
    no source pixel (letterbox bars).
    """
    xs, ys = _source_grid(t, width, height)
    ix, vx = _sample(xs, source_map.shape[1], frame.width)
    iy, vy = _sample(ys, source_map.shape[0], frame.height)
    values = source_map[np.ix_(iy, ix)]
    return values, np.outer(vy, vx)


# --- Drawing ---------------------------------------------------------------------------------


def _font(size: int) -> Any:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):
        return ImageFont.load_default()


def _label(
    draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, colour: tuple[int, int, int]
) -> None:
    font = _font(11)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    x, y = xy
    y = max(y - (bottom - top) - 4, 0)
    draw.rectangle((x, y, x + right - left + 4, y + bottom - top + 4), fill=colour)
    luminance = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
    draw.text(
        (x + 2 - left, y + 2 - top), text, fill=(0, 0, 0) if luminance > 140 else (255, 255, 255), font=font
    )


def annotate(
    image: np.ndarray,
    frame_result: FrameResult,
    *,
    spec_classes: Sequence[str] | None = None,
    transform: FrameTransform | None = None,
    draw_labels: bool = True,
) -> np.ndarray:
    """A copy of ``image`` (RGB uint8) with the frame's results drawn on it.

    Detections: masks alpha-blended and boxes outlined in one colour per class, with a
    "name score" label. Semantic results: the class map blended in the model's palette
    (Cityscapes for street-scene classes, VOC otherwise) and the top class fractions.
    ``transform`` maps source pixels to ``image`` pixels when the image is a resized frame
    (``SampledFrame.transform``); without it the image is assumed to show the whole
    source frame, at any size.
    """
    canvas = np.array(image, dtype=np.uint8, copy=True)
    if canvas.ndim != 3 or canvas.shape[2] != 3:
        raise ValueError(f"image must be RGB HxWx3, got shape {canvas.shape}")
    height, width = canvas.shape[:2]
    t = _mapping(frame_result, canvas, transform)

    semantic = frame_result.semantic
    if semantic is not None and semantic.class_map is not None:
        palette = semantic_palette(spec_classes or list(semantic.fractions))
        ids, valid = warp_to_image(np.asarray(semantic.class_map), frame_result, t, width, height)
        colours = colourize(ids, palette).astype(np.float32)
        blend = canvas.astype(np.float32) * (1 - SEMANTIC_ALPHA) + colours * SEMANTIC_ALPHA
        canvas[valid] = blend[valid].round().astype(np.uint8)

    detections = frame_result.detections
    styles = _detection_styles(detections) if detections is not None else []
    if detections is not None and len(detections) and detections.masks is not None:
        for (colour, _), rle in zip(styles, detections.masks, strict=True):
            mask, valid = warp_to_image(rle_to_mask(rle), frame_result, t, width, height)
            region = mask & valid
            tint = np.array(colour, np.float32)
            canvas[region] = (canvas[region] * (1 - MASK_ALPHA) + tint * MASK_ALPHA).round().astype(np.uint8)

    pil = Image.fromarray(canvas)
    draw = ImageDraw.Draw(pil)
    if detections is not None and len(detections):
        scale = np.array([t.scale_x, t.scale_y, t.scale_x, t.scale_y], np.float32)
        offset = np.array([t.offset_x, t.offset_y, t.offset_x, t.offset_y], np.float32)
        boxes = detections.xyxy * scale + offset
        line = max(1, round(min(width, height) / 240))
        for box, (colour, prefix), score, name in zip(
            boxes, styles, detections.scores, detections.class_names, strict=True
        ):
            x1, y1, x2, y2 = (float(v) for v in box)
            draw.rectangle((x1, y1, max(x2 - 1, x1), max(y2 - 1, y1)), outline=colour, width=line)
            if draw_labels:
                _label(draw, (x1, y1), f"{prefix}{name} {float(score):.2f}", colour)
    if semantic is not None and draw_labels and semantic.fractions:
        top = sorted(semantic.fractions.items(), key=lambda kv: -kv[1])[:3]
        text = "  ".join(f"{name} {fraction:.0%}" for name, fraction in top)
        _label(draw, (2, height - 2), text, (32, 32, 32))
    return np.asarray(pil)


# --- Contact sheet ---------------------------------------------------------------------------


class ContactSheet:
    """Collects small annotated thumbnails; memory stays bounded by ``max_items``.

    When more than ``max_items`` frames arrive, every other kept thumbnail is dropped
    and only every 2nd (then 4th, ...) later frame is taken, so the sheet always spans
    the whole video evenly.
    """

    def __init__(self, *, columns: int = 4, thumb_width: int = 320, max_items: int = 48) -> None:
        if columns < 1 or thumb_width < 16 or max_items < 2:
            raise ValueError("columns >= 1, thumb_width >= 16 and max_items >= 2 are required")
        self.columns = columns
        self.thumb_width = thumb_width
        self.max_items = max_items
        self._items: list[tuple[np.ndarray, str]] = []
        self._stride = 1
        self._seen = 0

    def add(
        self,
        image: np.ndarray,
        frame_result: FrameResult,
        *,
        spec_classes: Sequence[str] | None = None,
        transform: FrameTransform | None = None,
    ) -> None:
        take = self._seen % self._stride == 0
        self._seen += 1
        if not take:
            return
        # Draw on the thumbnail, not the full frame, so lines stay crisp and masks are cheap.
        h, w = image.shape[:2]
        thumb_h = max(round(h * self.thumb_width / w), 1)
        small = np.asarray(
            Image.fromarray(image).resize((self.thumb_width, thumb_h), Image.Resampling.BILINEAR)
        )
        if transform is not None:
            kx, ky = self.thumb_width / w, thumb_h / h
            transform = FrameTransform(
                transform.scale_x * kx,
                transform.scale_y * ky,
                transform.offset_x * kx,
                transform.offset_y * ky,
                transform.source_size,
            )
        thumb = annotate(small, frame_result, spec_classes=spec_classes, transform=transform)
        caption = f"{frame_result.timestamp:8.2f}s  #{frame_result.frame_index}"
        self._items.append((thumb, caption.strip()))
        if len(self._items) > self.max_items:
            self._items = self._items[::2]
            self._stride *= 2

    def __len__(self) -> int:
        return len(self._items)

    def save(self, path: str | Path) -> Path:
        """Write the grid as PNG; raises ValueError when nothing was added."""
        if not self._items:
            raise ValueError("the contact sheet has no frames")
        caption_h = 16
        cell_h = max(thumb.shape[0] for thumb, _ in self._items) + caption_h
        cell_w = self.thumb_width
        columns = min(self.columns, len(self._items))
        rows = -(-len(self._items) // columns)
        sheet = Image.new("RGB", (columns * cell_w, rows * cell_h), (24, 24, 24))
        draw = ImageDraw.Draw(sheet)
        font = _font(12)
        for i, (thumb, caption) in enumerate(self._items):
            x, y = (i % columns) * cell_w, (i // columns) * cell_h
            sheet.paste(Image.fromarray(thumb), (x, y))
            draw.text((x + 4, y + thumb.shape[0] + 1), caption, fill=(235, 235, 235), font=font)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        sheet.save(path, format="PNG")
        return path


def contact_sheet(
    items: Iterable[tuple[np.ndarray, FrameResult]],
    path: str | Path,
    *,
    columns: int = 4,
    thumb_width: int = 320,
    spec_classes: Sequence[str] | None = None,
) -> Path:
    """Write a PNG grid of annotated thumbnails, each captioned with its timestamp and index."""
    sheet = ContactSheet(columns=columns, thumb_width=thumb_width)
    for image, frame_result in items:
        sheet.add(image, frame_result, spec_classes=spec_classes)
    return sheet.save(path)


# --- Preview video ---------------------------------------------------------------------------


class PreviewWriter:
    """Writes frames (optionally annotated) to an H.264 MP4 (libx264, yuv420p) at ``fps``.

    The size is ``size`` (w, h) or the first frame's, rounded up to even numbers as 4:2:0
    needs; frames of another size are scaled to it.
    """

    def __init__(
        self, path: str | Path, fps: float = 2.0, size: tuple[int, int] | None = None, *, crf: int = 23
    ) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.path = Path(path)
        self.rate = Fraction(fps).limit_denominator(1001)
        self.size = _even(size) if size else None
        self.crf = crf
        self.frames_written = 0
        self._container: Any = None
        self._stream: Any = None

    def __enter__(self) -> PreviewWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _open(self, width: int, height: int) -> None:
        import av

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(self.path), mode="w", options={"movflags": "+faststart"})
        stream = self._container.add_stream("libx264", rate=self.rate)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.codec_context.options = {"crf": str(self.crf), "preset": "veryfast"}
        self._stream = stream

    def write(
        self,
        image: np.ndarray,
        frame_result: FrameResult | None = None,
        *,
        spec_classes: Sequence[str] | None = None,
        transform: FrameTransform | None = None,
    ) -> None:
        import av

        if frame_result is not None:
            image = annotate(image, frame_result, spec_classes=spec_classes, transform=transform)
        if self.size is None:
            self.size = _even((image.shape[1], image.shape[0]))
        if self._container is None:
            self._open(*self.size)
        width, height = self.size
        if image.shape[:2] != (height, width):
            image = _fit_even(image, width, height)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image, dtype=np.uint8), format="rgb24")
        frame.pts = self.frames_written
        frame.time_base = 1 / self.rate
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames_written += 1

    def close(self) -> None:
        if self._container is None:
            return
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        self._container = None


def _even(size: tuple[int, int]) -> tuple[int, int]:
    w, h = size
    return w + (w % 2), h + (h % 2)


def _fit_even(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pad by one pixel when only the parity differs, otherwise scale."""
    h, w = image.shape[:2]
    if 0 <= width - w <= 1 and 0 <= height - h <= 1:
        out = np.zeros((height, width, 3), dtype=np.uint8)
        out[:h, :w] = image
        return out
    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BILINEAR))
