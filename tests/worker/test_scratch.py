"""The worker's temporary files: removed on every path, and after a SIGKILL at the next start."""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import signal
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from reelsight.mx.artifacts import artifact_files, local_weights
from reelsight.testing.videos import WrittenVideo
from reelsight.worker import scratch

from .conftest import start_serve


def _locked(directory: Path) -> io.BufferedWriter:
    """A lock held as a live worker holds its own (another open file, so it conflicts here too)."""
    directory.mkdir(parents=True)
    handle = (directory / scratch.LOCK_NAME).open("wb")
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return handle


def test_clean_stale_removes_only_reelsight_directories_without_a_live_owner(tmp_path: Path) -> None:
    live = _locked(tmp_path / "reelsight-serve-1-live")
    dead = _locked(tmp_path / "reelsight-serve-2-dead")
    (tmp_path / "reelsight-serve-2-dead" / "invocation-x").mkdir()
    dead.close()  # its owner is gone: the kernel dropped the lock
    young = tmp_path / "reelsight-serve-3-young"
    young.mkdir()  # no lock yet: a worker between mkdir and flock
    old = tmp_path / "reelsight-serve-4-old"
    old.mkdir()
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    (tmp_path / "someone-else").mkdir()
    (tmp_path / "reelsight-serve-file").write_text("not a directory")
    try:
        removed = scratch.clean_stale(tmp_path)
    finally:
        live.close()
    assert sorted(p.name for p in removed) == ["reelsight-serve-2-dead", "reelsight-serve-4-old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "reelsight-serve-1-live",
        "reelsight-serve-3-young",
        "reelsight-serve-file",
        "someone-else",
    ]


def test_a_scratch_directory_is_locked_while_open_and_gone_when_closed(tmp_path: Path) -> None:
    own = scratch.Scratch(tmp_path / "root")
    invocation = own.invocation_dir()
    (invocation / "input.mp4").write_bytes(b"x")
    assert invocation.parent == own.path and own.path.name.startswith(f"reelsight-serve-{os.getpid()}-")
    assert scratch.clean_stale(tmp_path / "root") == []  # its owner (this process) is alive
    own.close()
    assert list((tmp_path / "root").iterdir()) == []


def _model_archive(path: Path) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in {"model-0000.params": b"p", "model-symbol.json": b"{}"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_unpacking_a_model_archive_leaves_nothing_in_the_temp_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    archive = _model_archive(tmp_path / "model.tar.gz")
    with artifact_files(archive) as files:
        assert files.params is not None and files.params.read_bytes() == b"p"
        assert files.symbol is not None and files.symbol.is_relative_to(root)
    assert list(root.iterdir()) == []
    with pytest.raises(RuntimeError), artifact_files(archive):
        raise RuntimeError("the model did not load")
    assert list(root.iterdir()) == []
    with local_weights(str(archive)) as local:  # a local path is used where it is
        assert local == str(archive)
    assert list(root.iterdir()) == []


def test_a_sigkilled_workers_invocation_is_removed_at_the_next_start(
    tmp_path: Path, clip_5s: WrittenVideo
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    hold = tmp_path / "hold"
    env = {"TMPDIR": str(tmp), "REELSIGHT_DEBUG_HOLD_FILE": str(hold)}
    first = start_serve(env, tmp_path / "first.log")
    hold.touch()  # the invocation stops before its model call, its body on disk
    poster = threading.Thread(
        target=lambda: _post_ignoring_errors(first.url, clip_5s.path.read_bytes()), daemon=True
    )
    try:
        poster.start()
        _wait_for(lambda: first.metrics()["in_flight"] == 1)
        bodies = list(tmp.rglob("input.mp4"))
        assert len(bodies) == 1
        os.kill(first.proc.pid, signal.SIGKILL)
        first.proc.wait(30)
    finally:
        first.stop()
        hold.unlink()
    poster.join(30)
    left_behind = bodies[0].parent
    assert left_behind.is_dir()  # a SIGKILL runs no clean-up
    live = _locked(tmp / "reelsight-serve-1-live")  # another worker's, still running
    (tmp / "someone-else").mkdir()
    second = start_serve(env, tmp_path / "second.log")
    try:
        assert not left_behind.exists() and list(tmp.rglob("input.mp4")) == []
        names = sorted(p.name for p in tmp.iterdir())
        assert len(names) == 3 and (names[0], names[2]) == ("reelsight-serve-1-live", "someone-else")
        assert names[1].startswith(f"reelsight-serve-{second.proc.pid}-")
        assert "left by a worker that is gone" in second.log()
    finally:
        assert second.stop() == 0
        live.close()
    assert sorted(p.name for p in tmp.iterdir()) == ["reelsight-serve-1-live", "someone-else"]


def _post_ignoring_errors(url: str, body: bytes) -> None:
    with contextlib.suppress(httpx.TransportError):  # the worker is killed under it
        httpx.post(f"{url}/invocations", content=body, headers={"Content-Type": "video/mp4"}, timeout=120)


def _wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise TimeoutError("condition not reached")


def test_sigterm_with_an_invocation_running_exits_and_leaves_nothing(
    tmp_path: Path, clip_5s: WrittenVideo
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    hold = tmp_path / "hold"
    env = {
        "TMPDIR": str(tmp),
        "REELSIGHT_DEBUG_HOLD_FILE": str(hold),
        "REELSIGHT_SHUTDOWN_GRACE_SECONDS": "1",
    }
    server = start_serve(env, tmp_path / "serve.log")
    hold.touch()  # the invocation never finishes by itself
    poster = threading.Thread(
        target=lambda: _post_ignoring_errors(server.url, clip_5s.path.read_bytes()), daemon=True
    )
    try:
        poster.start()
        _wait_for(lambda: server.metrics()["in_flight"] == 1)
        assert len(list(tmp.rglob("input.mp4"))) == 1
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(30) == 0
        assert time.monotonic() - started < 15  # the grace, not the invocation, sets the end
    finally:
        server.stop()
        hold.unlink()
    poster.join(30)
    assert list(tmp.iterdir()) == []
    assert "still running after the shutdown grace" in server.log()
