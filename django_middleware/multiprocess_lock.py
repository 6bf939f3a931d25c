"""One lock per multiprocess directory: scrapes share it, a merge holds it alone.

With it a scrape never lists the directory half way through a merge, so it never sees a dead
worker's file next to the merged file that already holds it. The lock file also carries a
generation number that every merge bumps, which tells scrapes that files were removed or
replaced and that cached file layouts must be checked again.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator

LOCK_NAME = ".painel-multiprocess.lock"


class DirectoryLock:
    def __init__(self, fd: int) -> None:
        self._fd = fd

    @property
    def generation(self) -> int:
        raw = os.pread(self._fd, 32, 0).strip()
        return int(raw) if raw.isdigit() else 0

    def bump_generation(self) -> int:
        """Only under the exclusive lock, before the merge touches any file."""
        generation = self.generation + 1
        os.pwrite(self._fd, str(generation).encode().ljust(32), 0)
        return generation


@contextlib.contextmanager
def directory_lock(
    path: str, exclusive: bool, timeout: float | None = None
) -> Iterator[DirectoryLock]:
    """The lock, waiting at most `timeout` seconds (None: as long as it takes) for it."""
    # flock, not fcntl record locks: it belongs to this open file, so threads of one process
    # each hold their own (an fcntl lock belongs to the process, and any close() drops it),
    # and the kernel releases it when the holder dies, even by SIGKILL. The descriptor is not
    # inherited across exec (Python opens it close-on-exec).
    fd = os.open(os.path.join(path, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _acquire(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH, timeout)
        yield DirectoryLock(fd)
    finally:
        os.close(fd)


def _acquire(fd: int, operation: int, timeout: float | None) -> None:
    if timeout is None:
        fcntl.flock(fd, operation)
        return
    # flock has no timeout of its own: poll without blocking until the deadline.
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"the lock stayed taken for {timeout:g} s") from None
            time.sleep(0.005)
