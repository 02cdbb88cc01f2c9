"""Telling a live recording from a crashed one: an OS lock held by the recording process.

The writer keeps an exclusive lock on ``FILE.recording`` for as long as it records. The operating
system drops the lock when the process ends, however it ends, so a file marked ``recording``
whose lock can be taken was left behind by a crash, and ``repair`` may close it; if the lock is
held, another process is still writing and the file must not be touched.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO


def lock_path(session_path: Path) -> Path:
    return session_path.with_name(session_path.name + ".recording")


def _try_lock(handle: IO[bytes]) -> bool:
    try:
        if sys.platform == "win32":
            import msvcrt

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


class RecordingLock:
    """Held by the writer from the first byte to ``release()``."""

    def __init__(self, session_path: Path) -> None:
        self.path = lock_path(session_path)
        self._handle: IO[bytes] | None = open(self.path, "a+b")  # noqa: SIM115 - held open
        if not _try_lock(self._handle):
            self._handle.close()
            self._handle = None
            raise OSError(f"{self.path} is locked by another recording")
        self._handle.seek(0)
        self._handle.truncate()
        self._handle.write(f"pid {os.getpid()}\n".encode())
        self._handle.flush()

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing drops the lock
            self._handle = None
            self.path.unlink(missing_ok=True)


def is_being_recorded(session_path: Path) -> bool:
    """True while a live process holds the recording lock of this session file."""
    path = lock_path(Path(session_path))
    if not path.exists():
        return False
    try:
        with open(path, "a+b") as handle:
            return not _try_lock(handle)
    except OSError:
        return False


def remove_stale_lock(session_path: Path) -> None:
    lock_path(Path(session_path)).unlink(missing_ok=True)
