"""One lock per multiprocess directory: scrapes share it, a merge holds it alone.

With it a scrape never lists the directory half way through a merge, so it never sees a dead
worker's file next to the merged file that already holds it. The lock file also carries a
generation number that every merge bumps, and which pid each recent merge claimed: a scrape
then knows which file names may hold a new file (a pid used again) without reading them.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator

LOCK_NAME = ".painel-multiprocess.lock"


# The generation fills the first 32 bytes, then one "<generation> <pid>" line per merge.
_GENERATION_SIZE = 32
_CLAIMS_KEPT = 1000  # a scrape that missed more merges than this checks every file instead


class DirectoryLock:
    def __init__(self, fd: int) -> None:
        self._fd = fd

    @property
    def generation(self) -> int:
        raw = os.pread(self._fd, _GENERATION_SIZE, 0).strip()
        return int(raw) if raw.isdigit() else 0

    def bump_generation(self, pid: int) -> int:
        """Only under the exclusive lock, before the merge claims the files of `pid`."""
        generation = self.generation + 1
        lines = [*self._claim_lines(), f"{generation} {pid}\n"][-_CLAIMS_KEPT:]
        data = str(generation).encode().ljust(_GENERATION_SIZE) + "".join(lines).encode()
        # Killed between these two calls, the file ends in a piece of the old record, which
        # breaks the run of numbers claimed_since checks: scrapes then check every file.
        os.pwrite(self._fd, data, 0)
        os.ftruncate(self._fd, len(data))
        return generation

    def claimed_since(self, generation: int) -> set[str] | None:
        """Pids whose files merges claimed after `generation`; None when the record does not
        reach back that far or is torn (a merge killed while writing it)."""
        current = self.generation
        claims: list[tuple[int, str]] = []
        for line in self._claim_lines():
            number, _, pid = line.removesuffix("\n").partition(" ")
            if not (line.endswith("\n") and number.isdigit() and pid.isdigit()):
                return None
            claims.append((int(number), pid))
        numbers = [number for number, _ in claims]
        if numbers != list(range(current - len(numbers) + 1, current + 1)):
            return None  # one line per merge, the last one this generation's
        if generation > current:  # the lock file was made anew
            return None
        if generation < current and (not numbers or numbers[0] > generation + 1):
            return None  # the merges right after `generation` are no longer listed
        return {pid for number, pid in claims if number > generation}

    def _claim_lines(self) -> list[str]:
        size = os.fstat(self._fd).st_size
        raw = os.pread(self._fd, max(size - _GENERATION_SIZE, 0), _GENERATION_SIZE)
        return raw.decode("ascii", "replace").splitlines(keepends=True)


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
