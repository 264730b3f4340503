"""Rendering: boxes, masks, semantic overlays, contact sheets and the H.264 preview."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from reelsight.frames import plan_resize
from reelsight.params import SamplingParams
from reelsight.render import (
    CITYSCAPES_PALETTE,
    MASK_ALPHA,
    SEMANTIC_ALPHA,
    ContactSheet,
    PreviewWriter,
    annotate,
    class_colour,
    contact_sheet,
    semantic_palette,
    voc_palette,
)
from reelsight.results import Detections, FrameResult, SemanticResult, mask_to_rle
from reelsight.testing.videos import frame_image, read_frame_index

GREY = 100


def _frame(width: int = 200, height: int = 100, *, with_mask: bool = False) -> FrameResult:
    mask = np.zeros((height, width), bool)
    mask[30:50, 120:160] = True
    detections = Detections(
        xyxy=np.array([[20, 10, 80, 60]], np.float32),
        labels=np.array([3]),
        scores=np.array([0.9]),
        class_names=["car"],
    )
    if with_mask:
        detections = Detections(
            xyxy=np.array([[20, 10, 80, 60], [120, 30, 160, 50]], np.float32),
            labels=np.array([3, 1]),
            scores=np.array([0.9, 0.8]),
            class_names=["car", "person"],
            masks=[mask_to_rle(np.zeros_like(mask)), mask_to_rle(mask)],
        )
    return FrameResult(frame_index=7, timestamp=0.25, width=width, height=height, detections=detections)


def _grey(width: int = 200, height: int = 100) -> np.ndarray:
    return np.full((height, width, 3), GREY, np.uint8)


def test_box_outline_in_class_colour() -> None:
    image = _grey()
    out = annotate(image, _frame())
    assert out.shape == image.shape and out.dtype == np.uint8
    assert (image == GREY).all(), "input must not be modified"
    colour = class_colour(3)
    assert tuple(out[59, 50]) == colour  # bottom edge
    assert tuple(out[35, 20]) == colour  # left edge
    assert tuple(out[35, 50]) == (GREY,) * 3  # inside, untouched
    assert tuple(out[90, 190]) == (GREY,) * 3  # elsewhere, untouched
    assert (out[:10, 20:60] != GREY).any(), "label drawn above the box"


def test_mask_is_alpha_blended() -> None:
    out = annotate(_grey(), _frame(with_mask=True), draw_labels=False)
    expected = np.round(GREY * (1 - MASK_ALPHA) + np.array(class_colour(1)) * MASK_ALPHA)
    np.testing.assert_array_equal(out[40, 140], expected)
    assert tuple(out[40, 100]) == (GREY,) * 3


def test_resized_image_without_transform_scales_results() -> None:
    out = annotate(_grey(400, 200), _frame(), draw_labels=False)
    assert tuple(out[119, 100]) == class_colour(3)
    assert tuple(out[59, 50]) == (GREY,) * 3


def test_letterboxed_image_uses_transform() -> None:
    transform, _ = plan_resize(SamplingParams(resize="fit", size=(200, 200)), (200, 100))
    out = annotate(_grey(200, 200), _frame(with_mask=True), transform=transform, draw_labels=False)
    # The source is centred with 50 px bars: y -> y + 50.
    assert transform.offset_y == 50
    assert tuple(out[109, 50]) == class_colour(3)
    blended = np.round(GREY * (1 - MASK_ALPHA) + np.array(class_colour(1)) * MASK_ALPHA)
    np.testing.assert_array_equal(out[90, 140], blended)
    assert tuple(out[10, 140]) == (GREY,) * 3


def test_semantic_overlay_uses_cityscapes_palette_for_street_classes() -> None:
    classes = ["road", "sidewalk", "building"]
    class_map = np.zeros((50, 100), np.uint8)  # half the source resolution
    class_map[:, 50:] = 2
    frame = FrameResult(
        frame_index=0,
        timestamp=0.0,
        width=200,
        height=100,
        semantic=SemanticResult(fractions={"road": 0.5, "building": 0.5}, class_map=class_map),
    )
    out = annotate(_grey(), frame, spec_classes=classes, draw_labels=False)
    road = np.round(GREY * (1 - SEMANTIC_ALPHA) + CITYSCAPES_PALETTE[0] * SEMANTIC_ALPHA)
    building = np.round(GREY * (1 - SEMANTIC_ALPHA) + CITYSCAPES_PALETTE[2] * SEMANTIC_ALPHA)
    np.testing.assert_array_equal(out[40, 20], road)
    np.testing.assert_array_equal(out[40, 180], building)
    labelled = annotate(_grey(), frame, spec_classes=classes)
    assert (labelled[-20:, :60] != out[-20:, :60]).any(), "top fractions are written"


def test_palettes() -> None:
    voc = voc_palette()
    assert tuple(voc[0]) == (0, 0, 0) and tuple(voc[1]) == (128, 0, 0) and tuple(voc[15]) == (192, 128, 128)
    assert tuple(semantic_palette(["background", "aeroplane"])[1]) == (128, 0, 0)
    street = semantic_palette(["road", "sidewalk"])
    assert tuple(street[0]) == (128, 64, 128) and tuple(street[18]) == (119, 11, 32)
    assert len({class_colour(i) for i in range(1, 91)}) == 90


def test_annotate_rejects_non_rgb() -> None:
    with pytest.raises(ValueError, match="RGB"):
        annotate(np.zeros((10, 10), np.uint8), _frame())


def test_contact_sheet(tmp_path: Path) -> None:
    items = []
    for i in range(6):
        frame = _frame()
        frame.frame_index, frame.timestamp = i * 15, i * 0.5
        items.append((_grey(), frame))
    path = contact_sheet(items, tmp_path / "sheet" / "contact_sheet.png", columns=4, thumb_width=100)
    sheet = np.asarray(Image.open(path).convert("RGB"))
    thumb_h = 50
    assert sheet.shape == (2 * (thumb_h + 16), 4 * 100, 3)
    # The first thumbnail shows the box (half size) ...
    assert tuple(sheet[29, 30]) == class_colour(3)
    # ... and the empty 8th cell stays background.
    assert (sheet[thumb_h + 16 + 10, 350] == 24).all()


def test_contact_sheet_stays_bounded_and_spans_the_video() -> None:
    sheet = ContactSheet(columns=4, thumb_width=32, max_items=10)
    for i in range(100):
        frame = FrameResult(frame_index=i, timestamp=float(i), width=64, height=32)
        sheet.add(np.zeros((32, 64, 3), np.uint8), frame)
    assert 5 <= len(sheet) <= 10
    captions = [caption for _, caption in sheet._items]
    assert captions[0].endswith("#0")
    assert int(captions[-1].split("#")[1]) >= 80
    with pytest.raises(ValueError, match="no frames"):
        ContactSheet().save("unused.png")


def test_preview_writer_h264_even_size(tmp_path: Path) -> None:
    path = tmp_path / "preview.mp4"
    frames = [frame_image(i, 333, 187) for i in range(6)]
    with PreviewWriter(path, fps=2.0) as writer:
        for image in frames:
            writer.write(image)
        writer.write(frame_image(6, 160, 90), _frame(160, 90))  # another size: scaled
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.width, stream.height) == (334, 188)
        assert float(stream.average_rate or 0) == 2.0
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert len(decoded) == 7
    for i, (image, out) in enumerate(zip(frames, decoded, strict=False)):
        assert read_frame_index(out[:187, :333]) == i
        assert np.abs(out[:187, :333].astype(int) - image).mean() < 6


def test_preview_writer_fixed_size_and_empty(tmp_path: Path) -> None:
    with PreviewWriter(tmp_path / "p.mp4", fps=1.5, size=(63, 31)) as writer:
        writer.write(frame_image(0, 320, 240))
        assert writer.size == (64, 32)
    with av.open(str(tmp_path / "p.mp4")) as container:
        assert (container.streams.video[0].width, container.streams.video[0].height) == (64, 32)
    with PreviewWriter(tmp_path / "none.mp4") as writer:
        pass
    assert not (tmp_path / "none.mp4").exists()
    with pytest.raises(ValueError):
        PreviewWriter(tmp_path / "bad.mp4", fps=0)
