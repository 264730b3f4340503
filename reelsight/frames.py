"""Frame sampling by presentation time, streamed: the video is never held in memory.

Targets are ``start, start + interval, ...`` below ``end`` (or the end of the video).
In ``exact`` mode the first decoded frame whose timestamp is at or after a target is
kept; a frame that satisfies several targets at once (a long frame in a variable frame
rate video) is yielded once, and the next target is the first one after that frame.
In ``keyframes`` mode only keyframes are decoded, and the first keyframe at or after a
target is kept; such results are approximate in time.

``SampledFrame.index`` is the frame's position in presentation order counting from 0
(the number of frames before it), which stays exact with variable frame rates because
frames are counted, not derived from time. When decoding starts from a seek (``start``
> 0 with PyAV), the count starts at the seek keyframe's position in the container's
sample index (MP4/MOV); where no complete index exists (e.g. Matroska) it is estimated
as ``round(timestamp * average_fps)`` and a warning says so.

``SampledFrame.timestamp`` is the frame's pts in seconds relative to the stream's start.

A read is *partial* when frames were lost: a demuxing or decoding error, or decoded timestamps that
stop short of the duration the container declares (a file cut off). The number of decoded frames is
not the measure: capture codecs count dropped frames in the header and store them as empty chunks
(AVI), so a complete file may hold far fewer frames than its header counts. Such slots still take
their time, so the declared duration is the longer of the stream's duration and its frame slots
times the slot length (an AVI's declared length, which FFmpeg re-estimates when the file is cut).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from reelsight.errors import ParamError, UnsupportedMediaError, VideoError
from reelsight.params import SamplingParams

EPSILON = 1e-6  # seconds; absorbs float noise when comparing pts with targets
MAX_CONSECUTIVE_ERRORS = 25
# Without a complete sample index a seek loses the frame count; decode from the start
# (exact indices) unless the start is further in than this many seconds.
SEEK_ESTIMATE_AFTER = 120.0
ESTIMATED_AFTER_ERROR = "frame_index values after a decoding error are estimated from the average frame rate"

# File signatures of containers we recognise: a file that starts like one of these but
# cannot be opened is damaged (422), anything else is not a video at all (415).
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (4, b"ftyp", "MP4/MOV"),
    (4, b"moov", "MOV"),
    (4, b"mdat", "MOV"),
    (0, b"\x1a\x45\xdf\xa3", "Matroska/WebM"),
    (0, b"RIFF", "AVI"),
    (0, b"FLV", "FLV"),
    (0, b"OggS", "Ogg"),
    (0, b"\x00\x00\x01\xba", "MPEG-PS"),
)


@dataclass(frozen=True)
class VideoInfo:
    width: int  # display size, after rotation
    height: int
    fps: float  # average frame rate
    duration: float  # seconds; 0.0 when the container does not say
    frame_count: int | None
    rotation: int  # clockwise degrees applied for display: 0, 90, 180 or 270
    codec: str
    container: str
    # The video stream's own duration: None when the container states only its overall one and
    # other streams (audio) may last longer.
    stream_duration: float | None = None

    @property
    def declared_duration(self) -> float | None:
        """Seconds the container says the video lasts: its stream duration, or its frame slots at the
        declared rate when that is longer (an AVI's header when the file was cut); None when unknown."""
        slots = self.frame_count / self.fps if self.frame_count and self.fps else None
        known = [d for d in (self.stream_duration, slots) if d]
        return max(known) if known else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "fps": round(self.fps, 6),
            "duration": round(self.duration, 6),
            "frame_count": self.frame_count,
            "rotation": self.rotation,
            "codec": self.codec,
            "container": self.container,
        }


@dataclass(frozen=True)
class FrameTransform:
    """``resized = source * scale + offset`` per axis; ``source_size`` (w, h) bounds the inverse."""

    scale_x: float = 1.0
    scale_y: float = 1.0
    offset_x: float = 0.0
    offset_y: float = 0.0
    source_size: tuple[int, int] | None = None

    def to_source_boxes(self, xyxy: np.ndarray) -> np.ndarray:
        """Boxes (N, 4) x1, y1, x2, y2 in resized pixels -> source pixels, clipped to the source."""
        boxes = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4).copy()
        boxes[:, [0, 2]] = (boxes[:, [0, 2]] - self.offset_x) / self.scale_x
        boxes[:, [1, 3]] = (boxes[:, [1, 3]] - self.offset_y) / self.scale_y
        if self.source_size is not None:
            w, h = self.source_size
            boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
            boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        return boxes

    def to_source_mask(self, mask: np.ndarray) -> np.ndarray:
        """A per-pixel map (H, W) in resized pixels -> source pixels (nearest neighbour).

        Source pixels outside the resized view (the cut-off sides of ``crop``) become 0.
        """
        if self.source_size is None:
            raise ValueError("to_source_mask needs source_size")
        src_w, src_h = self.source_size
        mask = np.asarray(mask)
        dtype = mask.dtype
        work = mask.astype(np.uint8) if dtype == np.bool_ else mask
        # Source pixel (x, y) centre lands at resized (x + 0.5) * scale + offset - 0.5.
        xs = ((np.arange(src_w) + 0.5) * self.scale_x + self.offset_x - 0.5).round().astype(np.int64)
        ys = ((np.arange(src_h) + 0.5) * self.scale_y + self.offset_y - 0.5).round().astype(np.int64)
        valid_x = (xs >= 0) & (xs < work.shape[1])
        valid_y = (ys >= 0) & (ys < work.shape[0])
        out = np.zeros((src_h, src_w) + work.shape[2:], dtype=work.dtype)
        out[np.ix_(valid_y, valid_x)] = work[np.ix_(ys[valid_y], xs[valid_x])]
        return out.astype(bool) if dtype == np.bool_ else out


@dataclass
class SampledFrame:
    index: int
    timestamp: float
    image: np.ndarray  # RGB uint8 HxWx3, after rotation and resize
    source_size: tuple[int, int]  # (w, h) after rotation, before resize
    transform: FrameTransform
    keyframe: bool


@dataclass
class _Decoded:
    """One decoded frame before selection; ``to_rgb`` converts only frames that are kept."""

    index: int
    timestamp: float
    keyframe: bool
    source: Any


@dataclass(frozen=True)
class _PyavTiming:
    """How a PyAV stream's pts become seconds from the stream's start."""

    time_base: Any  # a Fraction; None when the stream has none
    start_seconds: float
    fps: float  # average frame rate (30 when unknown), for frames without a pts

    @classmethod
    def of(cls, stream: Any, average_fps: float) -> _PyavTiming:
        time_base = stream.time_base
        start_seconds = float((stream.start_time or 0) * time_base) if time_base else 0.0
        return cls(time_base, start_seconds, average_fps or 30.0)

    def seconds(self, pts: int | None, position: int) -> float:
        if pts is not None and self.time_base is not None:
            return float(pts * self.time_base) - self.start_seconds
        return position / self.fps


@dataclass
class _Timeline:
    """How far the decoded timestamps reached, to tell a complete read from a file cut off."""

    last: float | None = None
    largest_gap: float = 0.0

    def add(self, timestamp: float) -> None:
        if self.last is not None:
            self.largest_gap = max(self.largest_gap, timestamp - self.last)
        self.last = timestamp if self.last is None else max(self.last, timestamp)

    def short_of(self, duration: float | None, fps: float) -> str | None:
        """Why the timestamps ended before ``duration``; None when they reached it (or it is unknown).

        One frame lasts about the largest gap between frames (a variable rate's longest frame, an
        AVI's dropped ones); twice that is allowed, so a complete file is never judged cut off.
        """
        if not duration or self.last is None:
            return None
        slack = 2 * max(self.largest_gap, 1.0 / (fps or 30.0))
        if self.last + slack >= duration - EPSILON:
            return None
        return f"the video ended at {self.last:.3f} s of its {duration:.3f} s (file truncated?)"


@dataclass
class _PyavCounts:
    """Packets and frames counted so far, from which frame indices follow."""

    base_index: int | None  # position of the first packet; None until known after a seek
    packets_seen: int = 0
    frame_count: int = 0
    consecutive_errors: int = 0
    lost_frames: bool = False
    keyframe_positions: dict[int, int] = field(default_factory=dict)  # pts -> packets before it
    timeline: _Timeline = field(default_factory=_Timeline)


def _rgb_source(frame: Any) -> Callable[[], np.ndarray]:
    """Converts only when called: most decoded frames are never kept."""
    return lambda: rotate_image(frame.to_ndarray(format="rgb24"), _clockwise(frame.rotation))


# --- Probing --------------------------------------------------------------------------------


def _open_container(path: Path) -> Any:
    import av

    if not path.exists():
        raise VideoError(f"video not found: {path.name}")
    if not path.is_file():
        raise VideoError(f"not a file: {path.name}")
    if path.stat().st_size == 0:
        raise VideoError(f"video file is empty (0 bytes): {path.name}")
    try:
        return av.open(str(path), mode="r")
    except av.error.FFmpegError as exc:
        kind = _sniff(path)
        reason = _reason(exc)
        if kind:
            raise VideoError(
                f"{path.name} looks like {kind} but cannot be opened; it is damaged or incomplete ({reason})"
            ) from None
        raise UnsupportedMediaError(f"{path.name} is not a video file that can be read ({reason})") from None


def _reason(exc: Any) -> str:
    """FFmpeg's message without the file's path (the worker's is an internal temporary file)."""
    if getattr(exc, "filename", None):
        return str(exc.strerror or type(exc).__name__)
    return str(exc)


def _sniff(path: Path) -> str | None:
    with path.open("rb") as handle:
        head = handle.read(200)
    for offset, magic, name in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return name
    if len(head) > 188 and head[0] == head[188] == 0x47:
        return "MPEG-TS"
    return None


def _video_stream(container: Any, path: Path) -> Any:
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        raise VideoError(f"{path.name} has no video stream (streams: {', '.join(kinds)})")
    return container.streams.video[0]


def _clockwise(ccw_degrees: int | float | None) -> int:
    return int(-round(float(ccw_degrees or 0) / 90.0) * 90) % 360


def probe(path: str | Path) -> VideoInfo:
    """Read a video's properties; decodes one frame to learn its display rotation."""
    import av

    path = Path(path)
    container = _open_container(path)
    try:
        stream = _video_stream(container, path)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        else:
            duration = 0.0
        rotation = 0
        try:
            first = next(container.decode(stream), None)
            if first is not None:
                rotation = _clockwise(first.rotation)
        except av.error.FFmpegError:
            pass
        width, height = stream.codec_context.width, stream.codec_context.height
        if rotation in (90, 270):
            width, height = height, width
        own = _stream_duration(container, stream)
        return VideoInfo(
            width=int(width),
            height=int(height),
            fps=fps,
            duration=max(duration, 0.0),
            frame_count=int(stream.frames) if stream.frames else None,
            rotation=rotation,
            codec=str(stream.codec_context.name),
            container=str(container.format.name),
            stream_duration=own,
        )
    finally:
        container.close()


def _stream_duration(container: Any, stream: Any) -> float | None:
    """The video stream's duration in seconds, or the container's when it holds nothing else."""
    import av

    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and len(container.streams) == 1:
        return float(container.duration / av.time_base)
    return None


# --- Geometry --------------------------------------------------------------------------------


def rotate_image(image: np.ndarray, clockwise_degrees: int) -> np.ndarray:
    if clockwise_degrees % 360 == 0:
        return image
    return np.ascontiguousarray(np.rot90(image, k=-(clockwise_degrees // 90)))


def plan_resize(
    params: SamplingParams, source_size: tuple[int, int]
) -> tuple[FrameTransform, tuple[int, int]]:
    """The transform from source to model input, and the scaled (w, h) before pad/crop."""
    src_w, src_h = source_size
    if params.resize == "none" or params.size is None:
        return FrameTransform(source_size=source_size), source_size
    dst_w, dst_h = params.size
    if params.resize == "stretch":
        return FrameTransform(dst_w / src_w, dst_h / src_h, 0.0, 0.0, source_size), (dst_w, dst_h)
    scale = min(dst_w / src_w, dst_h / src_h) if params.resize == "fit" else max(dst_w / src_w, dst_h / src_h)
    new_w, new_h = max(round(src_w * scale), 1), max(round(src_h * scale), 1)
    offset_x = (dst_w - new_w) // 2
    offset_y = (dst_h - new_h) // 2
    return FrameTransform(new_w / src_w, new_h / src_h, float(offset_x), float(offset_y), source_size), (
        new_w,
        new_h,
    )


def apply_resize(
    image: np.ndarray, params: SamplingParams, transform: FrameTransform, scaled: tuple[int, int]
) -> np.ndarray:
    """Scale, then letterbox (fit) or centre-crop (crop) to ``params.size``."""
    import cv2

    if params.resize == "none" or params.size is None:
        return image
    src_h, src_w = image.shape[:2]
    new_w, new_h = scaled
    shrinking = new_w * new_h < src_w * src_h
    scaled_img = cv2.resize(
        image, (new_w, new_h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    )
    if params.resize == "stretch":
        return scaled_img
    dst_w, dst_h = params.size
    ox, oy = int(transform.offset_x), int(transform.offset_y)
    if params.resize == "fit":
        canvas = np.zeros((dst_h, dst_w, 3), dtype=np.uint8)
        canvas[oy : oy + new_h, ox : ox + new_w] = scaled_img
        return canvas
    return np.ascontiguousarray(scaled_img[-oy : -oy + dst_h, -ox : -ox + dst_w])


# --- Reader ----------------------------------------------------------------------------------


class VideoReader:
    """Samples frames from one video; use as a context manager and iterate ``frames()`` once."""

    def __init__(self, path: str | Path, params: SamplingParams) -> None:
        self.path = Path(path)
        self.params = params.validate()
        self.info = probe(self.path)
        if params.mode == "keyframes" and params.backend == "opencv":
            raise ParamError("mode=keyframes needs backend=pyav (OpenCV cannot decode keyframes only)")
        if self.info.duration and params.start >= self.info.duration:
            raise ParamError(
                f"start ({params.start:g} s) is at or beyond the end of the video "
                f"({self.info.duration:.3f} s)"
            )
        self.partial = False
        self.approximate = params.mode == "keyframes"
        self.warnings: list[str] = []
        self.frames_decoded = 0  # frames that came out of the decoder, for streaming checks
        self.frames_yielded = 0
        source_size = (self.info.width, self.info.height)
        self.transform, self._scaled = plan_resize(self.params, source_size)
        self._container: Any = None
        self._started = False

    # Expected number of samples, for progress reporting (None when the duration is unknown).
    @property
    def expected_count(self) -> int | None:
        stop = self.info.duration
        if self.params.end is not None:
            stop = min(stop, self.params.end) if stop else self.params.end
        if not stop:
            return self.params.max_frames
        count = max(math.ceil((stop - self.params.start) / self.params.interval - EPSILON), 0)
        if self.info.frame_count is not None:
            count = min(count, self.info.frame_count)
        return min(count, self.params.max_frames) if self.params.max_frames else count

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    def frames(self) -> Generator[SampledFrame, None, None]:
        if self._started:
            raise RuntimeError("VideoReader.frames() can be iterated only once; open the video again")
        self._started = True
        decoded = self._decode_pyav() if self.params.backend == "pyav" else self._decode_opencv()
        try:
            yield from self._select(decoded)
        finally:
            decoded.close()
            self.close()

    def batches(self, size: int) -> Generator[list[SampledFrame], None, None]:
        if size < 1:
            raise ParamError(f"batch size must be >= 1, got {size}")
        batch: list[SampledFrame] = []
        for frame in self.frames():
            batch.append(frame)
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _select(self, decoded: Iterator[_Decoded]) -> Iterator[SampledFrame]:
        p = self.params
        interval = p.interval
        target = p.start
        for item in decoded:
            if item.timestamp < target - EPSILON:
                continue
            if p.end is not None and item.timestamp >= p.end - EPSILON:
                return
            yield self._make_frame(item)
            self.frames_yielded += 1
            if p.max_frames is not None and self.frames_yielded >= p.max_frames:
                return
            # Next target: the first one strictly after this frame.
            steps = math.floor((item.timestamp - p.start) / interval + EPSILON) + 1
            target = p.start + steps * interval
        if self.frames_decoded == 0:
            detail = f" ({'; '.join(self.warnings)})" if self.warnings else ""
            raise VideoError(f"{self.path.name}: no frame of the video stream could be decoded{detail}")

    def _make_frame(self, item: _Decoded) -> SampledFrame:
        image = item.source() if callable(item.source) else item.source
        if image.shape[1] != self.info.width or image.shape[0] != self.info.height:
            # Rotation seen on the frame disagrees with the probe (rare); trust the frame.
            source_size = (int(image.shape[1]), int(image.shape[0]))
            transform, scaled = plan_resize(self.params, source_size)
        else:
            source_size, transform, scaled = (self.info.width, self.info.height), self.transform, self._scaled
        image = apply_resize(image, self.params, transform, scaled)
        return SampledFrame(
            index=item.index,
            timestamp=item.timestamp,
            image=image,
            source_size=source_size,
            transform=transform,
            keyframe=item.keyframe,
        )

    def _mark_partial(self, message: str) -> None:
        self.partial = True
        if message not in self.warnings:
            self.warnings.append(message)

    # --- PyAV ---

    def _decode_pyav(self) -> Generator[_Decoded, None, None]:
        container = _open_container(self.path)
        self._container = container
        stream = self._open_stream(container)
        timing = _PyavTiming.of(stream, self.info.fps)
        counts = _PyavCounts(base_index=None if self._seek_to_start(container, stream) else 0)
        for packet in self._demux(container, stream):
            self._count_packet(stream, packet, counts, timing)
            frames = self._decode_packet(packet, counts)
            if counts.consecutive_errors >= MAX_CONSECUTIVE_ERRORS:
                break
            for frame in frames:
                yield self._decoded(frame, timing, counts)
        self._check_complete(counts)

    def _open_stream(self, container: Any) -> Any:
        stream = _video_stream(container, self.path)
        stream.thread_type = "AUTO"
        if self.params.mode == "keyframes":
            stream.codec_context.skip_frame = "NONKEY"
        return stream

    def _seek_to_start(self, container: Any, stream: Any) -> bool:
        """Seek to the keyframe before ``start`` where the sample index keeps frame indices exact
        (or where decoding from the beginning would take too long); False when not seeked."""
        import av

        start = self.params.start
        if start <= 0 or not (_has_sample_index(stream) or start > SEEK_ESTIMATE_AFTER):
            return False
        try:
            container.seek(
                (stream.start_time or 0) + int(start / stream.time_base), stream=stream, backward=True
            )
        except av.error.FFmpegError:
            return False  # not seekable: decode from the beginning
        return True

    def _demux(self, container: Any, stream: Any) -> Iterator[Any]:
        """The stream's packets; a read error ends them, and the video is then partial."""
        import av

        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.error.FFmpegError as exc:
                self._mark_partial(f"reading stopped early: {_reason(exc)}")
                return
            yield packet

    def _count_packet(self, stream: Any, packet: Any, counts: _PyavCounts, timing: _PyavTiming) -> None:
        if not packet.size:
            return
        if counts.base_index is None:
            counts.base_index = self._index_after_seek(stream, packet)
        if self.params.mode == "keyframes" and packet.pts is not None:
            # Only keyframes are decoded; how far the file reached shows in every packet's time.
            counts.timeline.add(timing.seconds(packet.pts, 0))
            if packet.is_keyframe:
                counts.keyframe_positions[packet.pts] = counts.base_index + counts.packets_seen
        counts.packets_seen += 1

    def _decode_packet(self, packet: Any, counts: _PyavCounts) -> list[Any]:
        """The packet's frames; none when it cannot be decoded (counted towards giving up)."""
        import av

        try:
            frames: list[Any] = packet.decode()
        except av.error.FFmpegError as exc:
            counts.consecutive_errors += 1
            counts.lost_frames = True
            self._mark_partial(f"some data could not be decoded: {_reason(exc)}")
            return []
        counts.consecutive_errors = 0
        return frames

    def _decoded(self, frame: Any, timing: _PyavTiming, counts: _PyavCounts) -> _Decoded:
        self.frames_decoded += 1
        position = (counts.base_index or 0) + counts.frame_count
        timestamp = timing.seconds(frame.pts, position)
        index = self._frame_index(frame, timestamp, timing.fps, position, counts)
        counts.frame_count += 1
        if self.params.mode == "exact":
            counts.timeline.add(timestamp)
        return _Decoded(index, timestamp, bool(frame.key_frame), _rgb_source(frame))

    def _frame_index(
        self, frame: Any, timestamp: float, fps: float, position: int, counts: _PyavCounts
    ) -> int:
        if self.params.mode == "keyframes":
            return counts.keyframe_positions.get(frame.pts, round(timestamp * fps))
        if counts.lost_frames:
            # Frames lost to a decoding error break the count; estimate from time instead.
            if ESTIMATED_AFTER_ERROR not in self.warnings:
                self.warnings.append(ESTIMATED_AFTER_ERROR)
            return max(round(timestamp * fps), position)
        return position

    def _check_complete(self, counts: _PyavCounts) -> None:
        if self.partial:
            return
        reason = self._ended_early(counts.timeline)
        if reason:
            self._mark_partial(reason)

    def _ended_early(self, timeline: _Timeline) -> str | None:
        """Why the read stopped before the end, judged by time against the declared duration."""
        return timeline.short_of(self.info.declared_duration, self.info.fps)

    def _index_after_seek(self, stream: Any, packet: Any) -> int:
        """Position of the seek keyframe in presentation order, from the sample index when complete."""
        entries = stream.index_entries
        if _has_sample_index(stream) and packet.pos is not None and packet.pos >= 0:
            i = bisect.bisect_left(entries, packet.pos, key=lambda e: e.pos)
            if i < len(entries) and entries[i].pos == packet.pos:
                return i
        fps = self.info.fps or 30.0
        start_seconds = float((stream.start_time or 0) * stream.time_base)
        estimate = round((float(packet.pts * stream.time_base) - start_seconds) * fps) if packet.pts else 0
        self.warnings.append(
            "frame_index values are estimated from the average frame rate "
            "(no complete sample index to seek with)"
        )
        return max(estimate, 0)

    # --- OpenCV ---

    def _decode_opencv(self) -> Generator[_Decoded, None, None]:
        import cv2

        keyframe_times, packets = _scan_packets(self.path)
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            raise VideoError(f"OpenCV cannot open {self.path.name}")
        timeline = _Timeline()
        try:
            index = 0
            while capture.grab():
                self.frames_decoded += 1
                timestamp = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                timeline.add(timestamp)
                key = round(timestamp * 10_000) in keyframe_times

                def retrieve(cap: Any = capture) -> np.ndarray:
                    ok, bgr = cap.retrieve()
                    if not ok:
                        raise VideoError(f"OpenCV could not convert a frame of {self.path.name}")
                    return np.ascontiguousarray(bgr[:, :, ::-1])  # OpenCV has already rotated it

                yield _Decoded(index, timestamp, key, retrieve)
                index += 1
        finally:
            capture.release()
        self._check_complete_opencv(timeline, index, packets)

    def _check_complete_opencv(self, timeline: _Timeline, grabbed: int, packets: int) -> None:
        """OpenCV reports no decoding errors: frames lost inside the file show as fewer frames than
        the file's non-empty packets (each holds one frame), a cut-off file also by time."""
        if packets and grabbed < packets:
            self._mark_partial(f"only {grabbed} of the video's {packets} frames could be decoded")
            return
        reason = self._ended_early(timeline)
        if reason:
            self._mark_partial(reason)


def _has_sample_index(stream: Any) -> bool:
    """True when the container indexes every frame (MP4/MOV), so a seek keeps exact indices."""
    return bool(stream.frames) and len(stream.index_entries) == stream.frames


def _scan_packets(path: Path) -> tuple[set[int], int]:
    """Keyframe timestamps in units of 0.1 ms, and the number of non-empty packets (frames), read
    from the container without decoding."""
    import av

    times: set[int] = set()
    packets = 0
    container = _open_container(path)
    try:
        stream = _video_stream(container, path)
        start = float((stream.start_time or 0) * stream.time_base)
        try:
            for packet in container.demux(stream):
                packets += 1 if packet.size else 0
                if packet.is_keyframe and packet.pts is not None:
                    times.add(round((float(packet.pts * stream.time_base) - start) * 10_000))
        except av.error.FFmpegError:
            pass
    finally:
        container.close()
    return times, packets


def open_video(path: str | Path, params: SamplingParams) -> VideoReader:
    """Open ``path`` for sampling; raises VideoError, UnsupportedMediaError or ParamError."""
    return VideoReader(path, params)
