"""Follow a growing file like `tail -F`, handing over whole lines in large blocks.

Written here rather than taken from a library: the Python tailers on PyPI read line by
line (too slow for the speed target), and none both detects copytruncate and bounds the
memory an endless line can take.

Rules, each chosen so that no line still in the file is skipped and none is read twice:
- At start, read from the end of the file (or from `readback_bytes` before it), beginning
  at the next whole line. A file that appears later is new: read it from its start.
- Rename-and-create rotation (the path names another inode): finish the old file (the
  writer may have written to it after our last read), then read the new one from 0.
- Copytruncate (same inode, but shorter than what we read, or its first bytes changed
  because it was truncated and written past our offset again): read again from 0.
- A line longer than `max_line_bytes` is cut: its head is handed over with a newline, the
  rest is dropped as it arrives, so memory stays bounded whatever the writer does.
- A missing or unreadable path: remembered and logged once per episode; retried each poll.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections.abc import Callable

from exporter.throttled_log import ThrottledWarning

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
MAX_LINE_BYTES = 1 << 20
# Read at most this much per poll, so a writer faster than us cannot keep a poll from
# returning (the caller checks for shutdown between polls).
MAX_BYTES_PER_POLL = 64 << 20
# How many leading bytes identify the file's content, to see a copytruncate that the
# writer outran before we polled (size alone cannot show it then).
HEAD_BYTES = 64


class FileFollower:
    """One followed path. `poll(consume)` hands blocks of complete lines to `consume`.

    Every block ends with b"\\n" and contains only whole lines. Counters (read them from
    the polling thread, or accept a value one poll old): `rotations`, `truncated_lines`,
    `open_errors` (episodes of a missing or
    unreadable path); `error` is the current problem or None.
    """

    def __init__(
        self,
        path: str,
        readback_bytes: int = 0,
        max_line_bytes: int = MAX_LINE_BYTES,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        # a line within one chunk is then never longer than the cap: only the carried
        # partial line needs checking
        if chunk_bytes > max_line_bytes:
            raise ValueError("chunk_bytes must not exceed max_line_bytes")
        self.path = path
        self.readback_bytes = readback_bytes
        self.max_line_bytes = max_line_bytes
        self.chunk_bytes = chunk_bytes
        self.rotations = 0
        self.truncated_lines = 0
        self.open_errors = 0
        self.error: str | None = None
        self._fd: int | None = None
        self._ino: tuple[int, int] | None = None
        self._offset = 0  # bytes consumed from the open file
        self._head = b""
        self._partial = b""  # an incomplete last line, never more than max_line_bytes
        self._discarding = False  # inside an over-long line, dropping bytes up to its end
        self._started = False
        self._warn_cut = ThrottledWarning(log)

    # -- public -------------------------------------------------------------------------

    def poll(self, consume: Callable[[bytes], None]) -> bool:
        """Read what is new; True when any byte was read."""
        if self._fd is None:
            self._open(first=not self._started)
            self._started = True
            if self._fd is None:
                return False
        got = self._check_truncated(consume)
        got |= self._drain(consume)
        identity = self._path_identity()
        if identity is not None and identity != self._ino:
            # rename-and-create: what the writer added to the old file before moving on
            # still counts (all of it, past the per-poll budget), then the new file is
            # read from its start
            while self._drain(consume):
                got = True
            self._finish_partial(consume)
            self._close()
            self.rotations += 1
            log.info("%s was rotated (a new file took its name); reading the new one", self.path)
            self._open(first=False)
            if self._fd is not None:
                got |= self._drain(consume)
        return got

    @property
    def reading(self) -> bool:
        """True while a file is open (also one moved away whose successor is not there)."""
        return self._fd is not None

    def close(self) -> None:
        self._close()

    # -- opening and closing ------------------------------------------------------------

    def _open(self, first: bool) -> None:
        try:
            # O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below)
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            self._failed(exc.strerror or str(exc))
            return
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise OSError(0, "not a regular file")
            start = 0
            if first:
                start = max(0, info.st_size - self.readback_bytes)
            self._fd = fd
            self._ino = (info.st_dev, info.st_ino)
            self._offset = start
            self._head = os.pread(fd, HEAD_BYTES, 0)
            self._partial = b""
            # starting inside a line: drop its tail, it was written before we came
            self._discarding = start > 0 and os.pread(fd, 1, start - 1) != b"\n"
        except OSError as exc:
            os.close(fd)
            self._fd = None
            self._failed(exc.strerror or str(exc))
            return
        if self.error is not None:
            log.info("%s is readable again", self.path)
        self.error = None

    def _failed(self, reason: str) -> None:
        if self.error is None:
            self.open_errors += 1
            log.warning("cannot read %s: %s; retrying", self.path, reason)
        self.error = reason

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd = None
        self._ino = None

    def _path_identity(self) -> tuple[int, int] | None:
        try:
            info = os.stat(self.path)
        except OSError:
            return None  # moved away and not yet recreated: keep reading the old file
        return (info.st_dev, info.st_ino)

    # -- reading ------------------------------------------------------------------------

    def _check_truncated(self, consume: Callable[[bytes], None]) -> bool:
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        truncated = size < self._offset
        if not truncated and self._head:
            truncated = os.pread(self._fd, len(self._head), 0) != self._head
        if not truncated:
            return False
        self._finish_partial(consume)
        self.rotations += 1
        log.info("%s was truncated (copytruncate); reading it again from its start", self.path)
        self._offset = 0
        self._head = os.pread(self._fd, HEAD_BYTES, 0)
        self._discarding = False
        return True

    def _drain(self, consume: Callable[[bytes], None]) -> bool:
        assert self._fd is not None
        budget = MAX_BYTES_PER_POLL
        got = False
        while budget > 0:
            chunk = os.pread(self._fd, self.chunk_bytes, self._offset)
            if not chunk:
                break
            got = True
            self._offset += len(chunk)
            budget -= len(chunk)
            if len(self._head) < HEAD_BYTES:
                self._head = os.pread(self._fd, HEAD_BYTES, 0)
            self._take(chunk, consume)
        return got

    def _take(self, chunk: bytes, consume: Callable[[bytes], None]) -> None:
        if self._discarding:
            end = chunk.find(b"\n")
            if end < 0:
                return
            self._discarding = False
            chunk = chunk[end + 1 :]
        first = chunk.find(b"\n")
        if first < 0:
            self._partial += chunk
            self._cut_if_too_long(consume)
            return
        if self._partial and len(self._partial) + first > self.max_line_bytes:
            self._emit_cut(
                self._partial + chunk[: self.max_line_bytes - len(self._partial)], consume
            )
            self._partial, chunk = b"", chunk[first + 1 :]
        last = chunk.rfind(b"\n")
        if last >= 0:
            self._emit(self._partial + chunk[: last + 1], consume)
            self._partial = b""
        self._partial += chunk[last + 1 :]
        self._cut_if_too_long(consume)

    def _cut_if_too_long(self, consume: Callable[[bytes], None]) -> None:
        if len(self._partial) > self.max_line_bytes:
            self._emit_cut(self._partial[: self.max_line_bytes], consume)
            self._partial = b""
            self._discarding = True

    def _emit_cut(self, head: bytes, consume: Callable[[bytes], None]) -> None:
        self.truncated_lines += 1
        self._warn_cut("%s: a line longer than %d bytes was cut", self.path, self.max_line_bytes)
        self._emit(head + b"\n", consume)

    def _emit(self, block: bytes, consume: Callable[[bytes], None]) -> None:
        consume(block)

    def _finish_partial(self, consume: Callable[[bytes], None]) -> None:
        """The file ends without a newline and will get no more: its last line is whole."""
        if self._partial and not self._discarding:
            self._emit(self._partial + b"\n", consume)
        self._partial = b""
        self._discarding = False


class FollowLoop:
    """One daemon thread that polls its followers until stopped.

    Each entry is (follower, consume, idle): `consume` gets the blocks of lines, `idle` is
    called once when a file has had nothing new for `idle_after` seconds (a parser then
    counts what its last record has shown: a writer puts a record down in one or two
    writes microseconds apart, so a second of quiet means the record is whole). Polling,
    not inotify: portable, and one stat per file per interval is nothing.
    """

    def __init__(
        self,
        name: str,
        entries: list[tuple[FileFollower, Callable[[bytes], None], Callable[[], None]]],
        interval: float = 0.25,
        idle_after: float = 1.0,
    ) -> None:
        self.entries = entries
        self.interval = interval
        self.idle_after = idle_after
        self._stop = threading.Event()
        self._warn = ThrottledWarning(log)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for follower, _, _ in self.entries:
            follower.close()

    def _run(self) -> None:
        last_data: list[float | None] = [None] * len(self.entries)  # None: idle() done
        while not self._stop.is_set():
            busy = False
            now = time.monotonic()
            for i, (follower, consume, idle) in enumerate(self.entries):
                try:
                    if follower.poll(consume):
                        busy = True
                        last_data[i] = now
                    elif last_data[i] is not None and now - last_data[i] >= self.idle_after:
                        last_data[i] = None
                        idle()
                except Exception:  # a bug must not end the thread: log it, go on
                    self._warn("following %s failed; retrying", follower.path, exc_info=True)
            if not busy:
                self._stop.wait(self.interval)
