"""Small synthetic videos for tests, demos and benchmarks.

Every frame shows a few moving coloured rectangles on a grey background, and its own
index as a 16-bit strip of black/white blocks along the top edge, so a test can tell
which source frame a decoder returned (see ``read_frame_index``).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import numpy as np

INDEX_BITS = 16
BLOCK = 8


@dataclass(frozen=True)
class WrittenVideo:
    path: Path
    width: int
    height: int
    frame_count: int
    pts_seconds: list[float] = field(repr=False)


def frame_image(index: int, width: int, height: int) -> np.ndarray:
    """The RGB frame number ``index`` (uint8, HxWx3)."""
    img = np.full((height, width, 3), 96, dtype=np.uint8)
    for k, colour in enumerate(((220, 40, 40), (40, 200, 60), (50, 80, 230))):
        bw, bh = max(width // 6, 4), max(height // 5, 4)
        span_x = max(width - bw, 1)
        x = (index * (3 + 2 * k) + k * width // 3) % span_x
        y = (k + 1) * height // 4 - bh // 2
        y = min(max(y, 0), max(height - bh, 0))
        img[y : y + bh, x : x + bw] = colour
    if width >= INDEX_BITS * BLOCK and height >= 2 * BLOCK:
        for bit in range(INDEX_BITS):
            on = (index >> bit) & 1
            img[0:BLOCK, bit * BLOCK : (bit + 1) * BLOCK] = 255 if on else 0
    return img


def read_frame_index(rgb: np.ndarray) -> int:
    """Decode the index strip written by ``frame_image`` from an unscaled frame."""
    index = 0
    for bit in range(INDEX_BITS):
        block = rgb[2 : BLOCK - 2, bit * BLOCK + 2 : (bit + 1) * BLOCK - 2]
        if float(block.mean()) > 127:
            index |= 1 << bit
    return index


def _vfr_durations(count: int, base: Fraction) -> Iterator[Fraction]:
    # Alternate short and long frame durations: 1x, 2x, 1x, 3x ... of the base step.
    pattern = (1, 2, 1, 3)
    for i in range(count):
        yield base * pattern[i % len(pattern)]


def write_video(
    path: str | Path,
    *,
    seconds: float = 5.0,
    fps: int = 30,
    width: int = 320,
    height: int = 240,
    codec: str = "libx264",
    gop: int | None = None,
    variable_frame_rate: bool = False,
    rotation: int = 0,
    faststart: bool = True,
    pix_fmt: str | None = None,
    bframes: int = 0,
) -> WrittenVideo:
    """Encode a synthetic clip and return what was written (true pts of every frame).

    ``rotation`` is the clockwise display rotation in degrees (the convention of the
    legacy ``rotate`` tag), written as a display matrix, so ``width``/``height`` are the
    coded size and a player shows the clip rotated. Odd sizes with libx264 are encoded
    as yuv444p, because 4:2:0 needs even dimensions; ``pix_fmt`` overrides the choice.
    ``bframes`` > 0 makes libx264 reorder frames (decode order differs from display order).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = max(int(round(seconds * fps)), 1)
    options = {"movflags": "+faststart"} if faststart and path.suffix in {".mp4", ".mov"} else {}
    tick = Fraction(1, fps * 6)  # fine time base so variable durations stay exact
    with av.open(str(path), mode="w", options=options) as container:
        stream = cast(av.VideoStream, container.add_stream(codec, rate=fps))
        stream.width = width
        stream.height = height
        odd = width % 2 or height % 2
        stream.pix_fmt = pix_fmt or ("yuv444p" if odd and codec == "libx264" else "yuv420p")
        stream.time_base = tick
        codec_options = {"crf": "18", "preset": "ultrafast"} if codec == "libx264" else {}
        if bframes and codec == "libx264":
            codec_options["bf"] = str(bframes)
        if gop:
            codec_options["g"] = str(gop)
            codec_options["keyint_min"] = str(gop)
            codec_options["sc_threshold"] = "0"
        stream.codec_context.options = codec_options
        if rotation % 360:
            stream.set_display_rotation(-(rotation % 360))  # PyAV counts counter-clockwise
        durations = (
            _vfr_durations(count, Fraction(1, fps))
            if variable_frame_rate
            else (Fraction(1, fps) for _ in range(count))
        )
        t = Fraction(0)
        times: list[float] = []
        for i, dur in enumerate(durations):
            frame = av.VideoFrame.from_ndarray(frame_image(i, width, height), format="rgb24")
            frame.pts = int(t / tick)
            frame.time_base = tick
            times.append(float(t))
            for packet in stream.encode(frame):
                container.mux(packet)
            t += dur
        for packet in stream.encode(None):
            container.mux(packet)
    return WrittenVideo(path=path, width=width, height=height, frame_count=count, pts_seconds=times)


def write_not_a_video(path: str | Path) -> Path:
    path = Path(path)
    path.write_text("this is a text file, not a video\n" * 20)
    return path


def write_empty(path: str | Path) -> Path:
    path = Path(path)
    path.write_bytes(b"")
    return path


def write_truncated(source: str | Path, path: str | Path, fraction: float = 0.5) -> Path:
    """Copy the first ``fraction`` of ``source``'s bytes (a download cut short)."""
    data = Path(source).read_bytes()
    path = Path(path)
    path.write_bytes(data[: max(int(len(data) * fraction), 1)])
    return path


def write_audio_only(path: str | Path, seconds: float = 1.0) -> Path:
    """A valid media file with an audio stream and no video stream."""
    path = Path(path)
    rate = 16000
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=rate)
        samples = int(seconds * rate)
        t = np.arange(samples) / rate
        tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32).reshape(1, -1)
        step = 1024
        for start in range(0, samples, step):
            chunk = np.ascontiguousarray(tone[:, start : start + step])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def copy_video(source: str | Path, path: str | Path) -> Path:
    shutil.copyfile(source, path)
    return Path(path)


def write_avi_with_dropped_frames(
    path: str | Path,
    *,
    header_frames: int = 444,
    real_frames: int = 68,
    seconds: float = 29.5,
    width: int = 160,
    height: int = 120,
) -> WrittenVideo:
    """An MJPEG AVI as old capture codecs write it: the header counts ``header_frames`` frame slots
    over ``seconds``, but only ``real_frames`` of them, spread evenly, hold a picture; the others
    (dropped frames) are empty chunks.

    FFmpeg's AVI muxer writes an empty chunk for every frame slot that a packet skips over, so
    frames with pts ``0 .. header_frames - 1`` and gaps between them give exactly that file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    slot = Fraction(seconds).limit_denominator(1000) / header_frames  # seconds per frame slot
    times: list[float] = []
    with av.open(str(path), mode="w", format="avi") as container:
        stream = cast(av.VideoStream, container.add_stream("mjpeg", rate=1 / slot))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuvj420p"
        stream.time_base = slot
        for i in range(real_frames):
            pts = round(i * (header_frames - 1) / max(real_frames - 1, 1))
            frame = av.VideoFrame.from_ndarray(frame_image(i, width, height), format="rgb24")
            frame.pts, frame.time_base = pts, slot
            times.append(float(pts * slot))
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return WrittenVideo(path=path, width=width, height=height, frame_count=real_frames, pts_seconds=times)
