"""The worker's temporary files: one directory per ``serve`` process, owned through a file lock.

Every temporary file of a ``serve`` process (invocation bodies and outputs, unpacked model
archives) lives under ``<temp root>/reelsight-serve-<pid>-<random>/``. The process holds an
exclusive ``flock`` on ``owner.lock`` inside it for as long as it runs; the kernel drops that lock
when the process dies, even by SIGKILL. At start-up, a directory of that name whose lock can be
taken has no live owner and is removed. Nothing else under the temp root is touched.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import IO

log = logging.getLogger("reelsight.worker")

PROCESS_PREFIX = "reelsight-serve-"
INVOCATION_PREFIX = "invocation-"
LOCK_NAME = "owner.lock"
# A directory seen without its lock file may be a process between mkdir and lock: spare it this long.
YOUNG_SECONDS = 60.0


class Scratch:
    """This process's temporary directory; ``close`` removes it."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.path = Path(tempfile.mkdtemp(prefix=f"{PROCESS_PREFIX}{os.getpid()}-", dir=root))
        self._lock: IO[bytes] | None = (self.path / LOCK_NAME).open("wb")
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def invocation_dir(self) -> Path:
        """A new directory for one invocation, removed by ``remove``."""
        return Path(tempfile.mkdtemp(prefix=INVOCATION_PREFIX, dir=self.path))

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        if self._lock is not None:
            self._lock.close()  # closing the file releases the lock
            self._lock = None


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def clean_stale(root: Path) -> list[Path]:
    """Remove the process directories under ``root`` whose owner is gone; returns what was removed."""
    if not root.is_dir():
        return []
    removed = []
    for candidate in sorted(root.glob(f"{PROCESS_PREFIX}*")):
        if candidate.is_dir() and not candidate.is_symlink() and _owner_gone(candidate):
            shutil.rmtree(candidate, ignore_errors=True)
            removed.append(candidate)
    for path in removed:
        log.info("removed %s, left by a worker that is gone", path)
    return removed


def _owner_gone(directory: Path) -> bool:
    lock_path = directory / LOCK_NAME
    try:
        handle = lock_path.open("rb")
    except FileNotFoundError:
        return time.time() - directory.stat().st_mtime > YOUNG_SECONDS
    except OSError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # a live process holds it
        return True
