"""Frame sampling: timing, indices, keyframes, rotation, resize, both backends, bad input, streaming."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from reelsight.errors import ParamError, UnsupportedMediaError, VideoError
from reelsight.frames import FrameTransform, SampledFrame, open_video, plan_resize, probe
from reelsight.params import Backend, Resize, SamplingParams
from reelsight.testing.videos import (
    WrittenVideo,
    read_frame_index,
    write_audio_only,
    write_empty,
    write_not_a_video,
    write_truncated,
    write_video,
)


def expected_indices(
    pts: list[float],
    *,
    fps: float | None = None,
    every_seconds: float | None = None,
    start: float = 0.0,
    end: float | None = None,
    max_frames: int | None = None,
    candidates: list[int] | None = None,
) -> list[int]:
    """Reference: for each target, the first candidate frame with pts >= target; deduplicated."""
    interval = every_seconds if every_seconds is not None else 1.0 / (fps or 1.0)
    candidates = candidates if candidates is not None else list(range(len(pts)))
    stop = end if end is not None else pts[-1] + 1.0
    chosen: list[int] = []
    k = 0
    while (target := start + k * interval) < stop - 1e-9:
        hit = next((i for i in candidates if pts[i] >= target - 1e-9), None)
        if hit is None:
            break
        if (end is None or pts[hit] < end - 1e-9) and hit not in chosen:
            chosen.append(hit)
        k += 1
    return chosen[:max_frames] if max_frames else chosen


def sample(path: Path, **kwargs: object) -> list[SampledFrame]:
    with open_video(path, SamplingParams(**kwargs)) as reader:  # type: ignore[arg-type]
        return list(reader.frames())


def check_frames(
    frames: list[SampledFrame], clip: WrittenVideo, expected: list[int], tol: float = 1e-6
) -> None:
    assert [f.index for f in frames] == expected
    for f in frames:
        assert read_frame_index(f.image) == f.index, "decoded picture is not the frame the index names"
        assert abs(f.timestamp - clip.pts_seconds[f.index]) <= tol
        assert f.source_size == (clip.width, clip.height)
        assert f.image.shape == (clip.height, clip.width, 3) and f.image.dtype == np.uint8


def test_probe(clip_5s: WrittenVideo) -> None:
    info = probe(clip_5s.path)
    assert (info.width, info.height, info.fps, info.frame_count, info.rotation) == (320, 240, 30.0, 150, 0)
    assert info.duration == pytest.approx(5.0, abs=0.05)
    assert info.codec == "h264" and "mp4" in info.container
    assert info.to_dict()["fps"] == 30.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fps": 2.0},
        {"fps": 0.7},
        {"every_seconds": 1.25},
        {"fps": 1.0, "start": 1.5, "end": 4.0},
        {"fps": 3.0, "max_frames": 4},
        {"fps": 100.0, "end": 0.5},
    ],
)
@pytest.mark.parametrize("backend", ["pyav", "opencv"])
def test_exact_sampling_constant_rate(clip_5s: WrittenVideo, kwargs: dict, backend: str) -> None:
    frames = sample(clip_5s.path, backend=backend, **kwargs)
    check_frames(frames, clip_5s, expected_indices(clip_5s.pts_seconds, **kwargs))
    assert [f.keyframe for f in frames] == [f.index % 30 == 0 for f in frames]


@pytest.mark.parametrize("kwargs", [{"fps": 4.0}, {"fps": 13.0}, {"every_seconds": 0.45, "start": 0.2}])
@pytest.mark.parametrize("backend", ["pyav", "opencv"])
def test_exact_sampling_variable_rate(vfr_clip: WrittenVideo, kwargs: dict, backend: str) -> None:
    frames = sample(vfr_clip.path, backend=backend, **kwargs)
    expected = expected_indices(vfr_clip.pts_seconds, **kwargs)
    check_frames(frames, vfr_clip, expected)
    # At 13 samples/s several targets fall inside one long frame: each frame still comes once.
    assert len(set(expected)) == len(expected)


@pytest.mark.parametrize("start", [0.9, 1.3, 2.52])
def test_seek_keeps_exact_indices_with_bframes(bframe_clip: WrittenVideo, start: float) -> None:
    with open_video(bframe_clip.path, SamplingParams(fps=2.5, start=start)) as reader:
        frames = list(reader.frames())
        assert reader.warnings == []
    check_frames(frames, bframe_clip, expected_indices(bframe_clip.pts_seconds, fps=2.5, start=start))
    # Seeking means the decoder did not start at frame 0.
    assert reader.frames_decoded < len(bframe_clip.pts_seconds) - frames[0].index + 30


def test_start_in_container_without_sample_index(vfr_mkv: WrittenVideo) -> None:
    frames = sample(vfr_mkv.path, fps=3.0, start=1.3)
    # Matroska stores milliseconds: the reference uses the stored times.
    stored = [round(t * 1000) / 1000 for t in vfr_mkv.pts_seconds]
    check_frames(frames, vfr_mkv, expected_indices(stored, fps=3.0, start=1.3), tol=1e-3)


@pytest.mark.parametrize("kwargs", [{"fps": 3.0}, {"fps": 0.5}, {"fps": 1.0, "start": 1.2}])
def test_keyframes_mode(clip_5s: WrittenVideo, kwargs: dict) -> None:
    with open_video(clip_5s.path, SamplingParams(mode="keyframes", **kwargs)) as reader:
        frames = list(reader.frames())
        assert reader.approximate
    keyframes = list(range(0, clip_5s.frame_count, 30))
    expected = expected_indices(clip_5s.pts_seconds, candidates=keyframes, **kwargs)
    check_frames(frames, clip_5s, expected)
    assert all(f.keyframe for f in frames)
    # Only keyframes were decoded.
    assert reader.frames_decoded <= len(keyframes)


def test_keyframes_mode_with_bframes_and_variable_rate(
    bframe_clip: WrittenVideo, vfr_clip: WrittenVideo
) -> None:
    for clip, gop in ((bframe_clip, 25), (vfr_clip, 15)):
        frames = sample(clip.path, mode="keyframes", fps=2.0)
        keyframes = list(range(0, clip.frame_count, gop))
        check_frames(frames, clip, expected_indices(clip.pts_seconds, fps=2.0, candidates=keyframes))


def test_keyframes_mode_needs_pyav(clip_5s: WrittenVideo) -> None:
    with pytest.raises(ParamError, match="keyframes needs backend=pyav"):
        open_video(clip_5s.path, SamplingParams(mode="keyframes", backend="opencv"))


@pytest.mark.parametrize("clip_name", ["clip_5s", "vfr_clip", "bframe_clip"])
def test_backends_agree(clip_name: str, request: pytest.FixtureRequest) -> None:
    clip: WrittenVideo = request.getfixturevalue(clip_name)
    pyav = sample(clip.path, fps=3.0, backend="pyav")
    opencv = sample(clip.path, fps=3.0, backend="opencv")
    assert [(f.index, f.keyframe, f.source_size) for f in pyav] == [
        (f.index, f.keyframe, f.source_size) for f in opencv
    ]
    for a, b in zip(pyav, opencv, strict=True):
        assert a.timestamp == pytest.approx(b.timestamp, abs=1e-6)
        assert np.abs(a.image.astype(np.int16) - b.image).mean() < 2.0


@pytest.mark.parametrize("backend", ["pyav", "opencv"])
def test_rotation(rotated_clip: tuple[int, WrittenVideo], backend: str) -> None:
    rotation, clip = rotated_clip
    info = probe(clip.path)
    assert info.rotation == rotation
    swapped = rotation in (90, 270)
    display = (clip.height, clip.width) if swapped else (clip.width, clip.height)
    assert (info.width, info.height) == display
    frames = sample(clip.path, fps=4.0, backend=backend)
    assert [f.index for f in frames] == expected_indices(clip.pts_seconds, fps=4.0)
    for f in frames:
        assert f.source_size == display
        assert f.image.shape[:2] == (display[1], display[0])
        # Undo the clockwise display rotation; the index strip must read back.
        upright = np.rot90(f.image, k=rotation // 90)
        assert read_frame_index(np.ascontiguousarray(upright)) == f.index


def test_odd_size_decodes_at_true_size(odd_clip: WrittenVideo) -> None:
    info = probe(odd_clip.path)
    assert (info.width, info.height) == (333, 187)
    for backend in ("pyav", "opencv"):
        frames = sample(odd_clip.path, fps=5.0, backend=backend)
        check_frames(frames, odd_clip, expected_indices(odd_clip.pts_seconds, fps=5.0))


def test_odd_size_other_codecs(tmp_path: Path) -> None:
    for name, codec in (("odd.avi", "mpeg4"), ("odd.mkv", "ffv1")):
        clip = write_video(tmp_path / name, seconds=0.5, fps=10, width=333, height=187, codec=codec)
        frames = sample(clip.path, fps=10.0)
        assert [f.image.shape for f in frames] == [(187, 333, 3)] * clip.frame_count
        assert [read_frame_index(f.image) for f in frames] == list(range(clip.frame_count))


@pytest.mark.parametrize("resize", ["fit", "stretch", "crop"])
@pytest.mark.parametrize("size", [(128, 128), (400, 150)])
def test_resize_modes(clip_5s: WrittenVideo, resize: Resize, size: tuple[int, int]) -> None:
    frames = sample(clip_5s.path, fps=1.0, max_frames=2, resize=resize, size=size)
    for f in frames:
        assert f.image.shape == (size[1], size[0], 3)
        assert f.source_size == (320, 240)
        t = f.transform
        if resize == "fit":
            assert t.scale_x == pytest.approx(t.scale_y, rel=0.02)
            assert min(t.offset_x, t.offset_y) == 0
            # Letterbox bars are black.
            if t.offset_y:
                assert f.image[: int(t.offset_y)].max() == 0
            if t.offset_x:
                assert f.image[:, : int(t.offset_x)].max() == 0
        if resize == "crop":
            assert t.scale_x == pytest.approx(t.scale_y, rel=0.02)
            assert max(t.offset_x, t.offset_y) == 0
        # The whole source box maps back onto the source frame.
        full = np.array([[0, 0, size[0], size[1]]], np.float32)
        back = t.to_source_boxes(full)[0]
        assert back.min() >= 0 and back[2] <= 320 and back[3] <= 240
        if resize != "crop":
            np.testing.assert_allclose(back, [0, 0, 320, 240], atol=1.0)


def test_resized_pixels_follow_transform(clip_5s: WrittenVideo) -> None:
    """The red rectangle found in the resized frame maps back to where it is in the source."""
    (source,) = sample(clip_5s.path, fps=1.0, max_frames=1)
    for resize in ("fit", "stretch", "crop"):
        (resized,) = sample(clip_5s.path, fps=1.0, max_frames=1, resize=resize, size=(200, 100))
        src_box = _red_box(source.image)
        t = resized.transform
        got = t.to_source_boxes(_red_box(resized.image)[None])[0]
        # Crop cuts the rectangle at the visible part of the source.
        view = t.to_source_boxes(np.array([[0, 0, 200, 100]], np.float32))[0]
        expected = np.concatenate([np.maximum(src_box[:2], view[:2]), np.minimum(src_box[2:], view[2:])])
        # Edge pixels blur when shrinking: allow two resized pixels.
        np.testing.assert_allclose(got, expected, atol=2.0 / min(t.scale_x, t.scale_y))


def _red_box(image: np.ndarray) -> np.ndarray:
    red = (image[..., 0] > 180) & (image[..., 1] < 90) & (image[..., 2] < 90)
    ys, xs = np.nonzero(red)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


def test_frame_transform_round_trip_and_clip() -> None:
    transform, scaled = plan_resize(SamplingParams(resize="fit", size=(640, 640)), (1280, 720))
    assert scaled == (640, 360) and transform.offset_y == 140
    boxes = np.array([[100, 50, 300, 200], [0, 0, 1280, 720]], np.float32)
    scale = np.array([transform.scale_x, transform.scale_y] * 2, np.float32)
    offset = np.array([transform.offset_x, transform.offset_y] * 2, np.float32)
    forward = boxes * scale + offset
    np.testing.assert_allclose(transform.to_source_boxes(forward), boxes, atol=1e-3)
    outside = np.array([[-20, -20, 700, 700]], np.float32)
    np.testing.assert_allclose(transform.to_source_boxes(outside), [[0, 0, 1280, 720]])
    identity = FrameTransform(source_size=(10, 10))
    np.testing.assert_allclose(identity.to_source_boxes(np.array([[1, 2, 3, 4]])), [[1, 2, 3, 4]])


@pytest.mark.parametrize("resize", ["fit", "stretch", "crop"])
def test_to_source_mask(resize: Resize) -> None:
    transform, scaled = plan_resize(SamplingParams(resize=resize, size=(100, 100)), (200, 100))
    src = np.zeros((100, 200), bool)
    src[20:60, 80:140] = True
    # Build the resized mask by the forward mapping of pixel centres.
    ys, xs = np.mgrid[0:100, 0:100]
    sx = ((xs + 0.5 - transform.offset_x) / transform.scale_x).astype(int)
    sy = ((ys + 0.5 - transform.offset_y) / transform.scale_y).astype(int)
    inside = (sx >= 0) & (sx < 200) & (sy >= 0) & (sy < 100)
    resized = np.zeros((100, 100), bool)
    resized[inside] = src[sy[inside], sx[inside]]
    back = transform.to_source_mask(resized)
    assert back.shape == (100, 200) and back.dtype == bool
    visible = np.zeros_like(src)
    lo = int(round(-transform.offset_x / transform.scale_x))
    visible[:, max(lo, 0) : 200 - max(lo, 0)] = True
    agreement = (back == src)[visible].mean()
    assert agreement > 0.97
    if resize == "crop":
        assert not back[:, : lo - 1].any()


def test_bad_inputs(tmp_path: Path, clip_5s: WrittenVideo) -> None:
    with pytest.raises(VideoError, match="not found"):
        open_video(tmp_path / "missing.mp4", SamplingParams())
    with pytest.raises(VideoError, match="empty"):
        open_video(write_empty(tmp_path / "empty.mp4"), SamplingParams())
    with pytest.raises(UnsupportedMediaError, match="not a video"):
        open_video(write_not_a_video(tmp_path / "notes.mp4"), SamplingParams())
    with pytest.raises(VideoError, match="no video stream"):
        open_video(write_audio_only(tmp_path / "tone.m4a"), SamplingParams())
    with pytest.raises(VideoError, match="not a file"):
        open_video(tmp_path, SamplingParams())
    with pytest.raises(ParamError, match="fps"):
        open_video(clip_5s.path, SamplingParams(fps=-1))
    with pytest.raises(ParamError, match="beyond the end"):
        open_video(clip_5s.path, SamplingParams(start=7.0))
    assert not issubclass(VideoError, UnsupportedMediaError)


def test_damaged_header_is_a_video_error(tmp_path: Path) -> None:
    clip = write_video(tmp_path / "tail.mp4", seconds=1, fps=10, width=160, height=128, faststart=False)
    cut = write_truncated(clip.path, tmp_path / "cut.mp4", 0.5)  # index (moov) at the end is lost
    with pytest.raises(VideoError, match="damaged or incomplete") as info:
        open_video(cut, SamplingParams())
    assert not isinstance(info.value, UnsupportedMediaError)


@pytest.mark.parametrize("backend", ["pyav", "opencv"])
def test_truncated_file_is_partial(tmp_path: Path, clip_5s: WrittenVideo, backend: Backend) -> None:
    cut = write_truncated(clip_5s.path, tmp_path / f"half-{backend}.mp4", 0.5)
    with open_video(cut, SamplingParams(fps=2.0, backend=backend)) as reader:
        frames = list(reader.frames())
        assert reader.partial
        assert any("truncated" in w or "decoded" in w for w in reader.warnings)
    assert 2 <= len(frames) < 10
    expected = expected_indices(clip_5s.pts_seconds, fps=2.0)[: len(frames)]
    check_frames(frames, clip_5s, expected)


def test_the_capture_avi_has_the_shape_of_one(dropped_frames_avi: WrittenVideo) -> None:
    """What ffprobe would say: 444 frames in the header over 29.5 s, 68 packets that hold a picture."""
    import av

    with av.open(str(dropped_frames_avi.path)) as container:
        stream = container.streams.video[0]
        assert container.format.name == "avi" and stream.codec_context.name == "mjpeg"
        assert stream.frames == 444
        assert float(stream.duration * stream.time_base) == pytest.approx(29.5)
        sizes = [packet.size for packet in container.demux(stream)]
    assert sum(1 for size in sizes if size) == 68  # the 376 empty chunks are dropped frames
    with av.open(str(dropped_frames_avi.path)) as container:
        stamps = [float(frame.time) for frame in container.decode(video=0)]
    assert len(stamps) == 68 and stamps[-1] == pytest.approx(29.43, abs=0.01)
    gaps = np.diff(stamps)
    assert gaps.min() > 0.39 and gaps.max() < 0.47  # spread evenly, ~0.43 s apart


@pytest.mark.parametrize("backend", ["pyav", "opencv"])
def test_dropped_frames_counted_in_the_header_are_not_a_partial_read(
    dropped_frames_avi: WrittenVideo, backend: Backend
) -> None:
    with open_video(dropped_frames_avi.path, SamplingParams(fps=1.0, backend=backend)) as reader:
        assert reader.info.frame_count == 444
        frames = list(reader.frames())
        assert not reader.partial, reader.warnings
        assert reader.warnings == []
    expected = expected_indices(dropped_frames_avi.pts_seconds, fps=1.0)
    assert len(expected) == 30  # a sample for every second of the 29.5 s
    assert [f.index for f in frames] == expected
    for f in frames:
        assert f.timestamp == pytest.approx(dropped_frames_avi.pts_seconds[f.index], abs=1e-3)


@pytest.mark.parametrize("backend", ["pyav", "opencv"])
def test_a_cut_off_capture_avi_is_partial(
    tmp_path: Path, dropped_frames_avi: WrittenVideo, backend: Backend
) -> None:
    cut = write_truncated(dropped_frames_avi.path, tmp_path / f"cut-{backend}.avi", 0.5)
    with open_video(cut, SamplingParams(fps=1.0, backend=backend)) as reader:
        frames = list(reader.frames())
        assert reader.partial
        assert any("of its 29.500 s (file truncated?)" in w for w in reader.warnings), reader.warnings
    assert 10 <= len(frames) <= 16


@pytest.mark.parametrize("mode", ["exact", "keyframes"])
def test_complete_videos_are_never_partial(
    mode: str,
    clip_5s: WrittenVideo,
    vfr_clip: WrittenVideo,
    vfr_mkv: WrittenVideo,
    bframe_clip: WrittenVideo,
    odd_clip: WrittenVideo,
    long_clip: WrittenVideo,
) -> None:
    for clip in (clip_5s, vfr_clip, vfr_mkv, bframe_clip, odd_clip, long_clip):
        for backend in ("pyav", "opencv") if mode == "exact" else ("pyav",):
            params = SamplingParams(fps=3.0, mode=mode, backend=backend)  # type: ignore[arg-type]
            with open_video(clip.path, params) as reader:
                assert list(reader.frames())
                assert not reader.partial, (clip.path.name, backend, reader.warnings)


def test_nothing_decodable_is_a_video_error(tmp_path: Path, clip_5s: WrittenVideo) -> None:
    cut = write_truncated(clip_5s.path, tmp_path / "stub.mp4", 0.03)
    with open_video(cut, SamplingParams()) as reader, pytest.raises(VideoError, match="no frame"):
        list(reader.frames())


def test_frames_are_streamed_lazily(long_clip: WrittenVideo) -> None:
    with open_video(long_clip.path, SamplingParams(fps=1.0)) as reader:
        frames = reader.frames()
        first = next(frames)
        second = next(frames)
        assert (first.index, second.index) == (0, 30)
        # Decoding ran just past the second sample, not through the 300-frame clip
        # (a few frames of slack for the decoder's frame threads).
        assert reader.frames_decoded <= 31 + 16
        rest = list(frames)
    assert len(rest) == 8
    assert reader.frames_decoded == long_clip.frame_count


def test_batches(long_clip: WrittenVideo) -> None:
    with open_video(long_clip.path, SamplingParams(fps=1.0)) as reader:
        assert reader.expected_count == 10
        sizes = [len(batch) for batch in reader.batches(4)]
    assert sizes == [4, 4, 2]
    with open_video(long_clip.path, SamplingParams()) as reader, pytest.raises(ParamError):
        next(reader.batches(0))


def test_frames_iterate_once(clip_5s: WrittenVideo) -> None:
    with open_video(clip_5s.path, SamplingParams(max_frames=1)) as reader:
        assert len(list(reader.frames())) == 1
        with pytest.raises(RuntimeError, match="only once"):
            list(reader.frames())


@pytest.mark.parametrize(
    "kwargs", [{"fps": 1.0}, {"fps": 2.0, "start": 1.0, "end": 3.0}, {"fps": 7.0, "max_frames": 5}]
)
def test_expected_count_matches(clip_5s: WrittenVideo, kwargs: dict) -> None:
    with open_video(clip_5s.path, SamplingParams(**kwargs)) as reader:
        expected = reader.expected_count
        assert expected == len(list(reader.frames()))
    assert expected == math.ceil(expected)


def test_corrupt_middle_is_survived(tmp_path: Path, clip_5s: WrittenVideo) -> None:
    data = bytearray(clip_5s.path.read_bytes())
    rng = np.random.default_rng(1)
    lo, hi = int(len(data) * 0.40), int(len(data) * 0.45)
    data[lo:hi] = rng.integers(0, 256, hi - lo, dtype=np.uint8).tobytes()
    broken = tmp_path / "corrupt.mp4"
    broken.write_bytes(bytes(data))
    with open_video(broken, SamplingParams(fps=2.0)) as reader:
        frames = list(reader.frames())
        assert reader.partial
        assert any("could not be decoded" in w for w in reader.warnings)
    # Decoding resumed after the damage: the last keyframe intervals are back to exact.
    tail = [f for f in frames if f.index >= 120]
    assert [f.index for f in tail] == [120, 135]
    assert [read_frame_index(f.image) for f in tail] == [120, 135]
    with open_video(broken, SamplingParams(fps=2.0, backend="opencv")) as reader:
        assert len(list(reader.frames())) >= 2
        assert reader.partial


def test_closing_early_releases_the_file(clip_5s: WrittenVideo) -> None:
    reader = open_video(clip_5s.path, SamplingParams(fps=5.0))
    frames = reader.frames()
    next(frames)
    assert reader._container is not None
    frames.close()
    assert reader._container is None


def test_test_videos_have_the_properties_the_tests_rely_on(
    bframe_clip: WrittenVideo, vfr_clip: WrittenVideo
) -> None:
    import av

    with av.open(str(bframe_clip.path)) as container:
        packets = [p for p in container.demux(video=0) if p.size]
        assert any(p.pts != p.dts for p in packets), "B-frames reorder decode order"
    steps = np.diff(vfr_clip.pts_seconds)
    assert steps.min() < steps.max() - 1e-6, "frame durations vary"
