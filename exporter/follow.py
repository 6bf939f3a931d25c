"""Follow a growing file like `tail -F`, handing over whole lines in large blocks.

Written here rather than taken from a library: the Python tailers on PyPI read line by
line (too slow for the speed target), and none both detects copytruncate and bounds the
memory an endless line can take.

Rules, each chosen so that no line still in the file is skipped and none is read twice:
- At start, read from the end of the file (or from `readback_bytes` before it), beginning
  at the next whole line. A file that appears later is new: read it from its start.
- Rename-and-create rotation (the path names another inode): read the old file to its
  end, then the new one from 0. The old file stays open and is read alongside until it
  has had nothing new for `rotate_wait` seconds: a writer that reopens its file only when
  told (logrotate's postrotate signal) still writes to the old one for a while (tail -F
  loses those lines; Fluent Bit's Rotate_Wait keeps them, as this does).
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
# Seconds of quiet after which a rotated-away file is closed (Fluent Bit's default).
ROTATE_WAIT = 5.0


class _OpenFile:
    """One open file, how far it was read, and its incomplete last line."""

    def __init__(self, fd: int, identity: tuple[int, int], offset: int) -> None:
        self.fd = fd
        self.identity = identity
        self.offset = offset  # bytes consumed
        self.head = os.pread(fd, HEAD_BYTES, 0)
        self.partial = b""  # an incomplete last line, never more than max_line_bytes
        # starting inside a line: drop its tail, it was written before we came
        self.discarding = offset > 0 and os.pread(fd, 1, offset - 1) != b"\n"
        self.last_data = time.monotonic()

    def close(self) -> None:
        os.close(self.fd)


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
        rotate_wait: float = ROTATE_WAIT,
    ) -> None:
        # a line within one chunk is then never longer than the cap: only the carried
        # partial line needs checking
        if chunk_bytes > max_line_bytes:
            raise ValueError("chunk_bytes must not exceed max_line_bytes")
        self.path = path
        self.readback_bytes = readback_bytes
        self.max_line_bytes = max_line_bytes
        self.chunk_bytes = chunk_bytes
        self.rotate_wait = rotate_wait
        self.rotations = 0
        self.truncated_lines = 0
        self.open_errors = 0
        self.error: str | None = None
        self._file: _OpenFile | None = None
        self._rotated: _OpenFile | None = None  # the file before the last rotation
        self._started = False
        self._warn_cut = ThrottledWarning(log)

    # -- public -------------------------------------------------------------------------

    def poll(self, consume: Callable[[bytes], None]) -> bool:
        """Read what is new; True when any byte was read."""
        got = self._poll_rotated(consume)
        if self._file is None:
            self._file = self._open(first=not self._started)
            self._started = True
            if self._file is None:
                return got
        file = self._file
        got |= self._check_truncated(file, consume)
        got |= self._drain(file, consume)
        identity = self._path_identity()
        if identity is not None and identity != file.identity:
            # rename-and-create: what the writer added to the old file before moving on
            # still counts (all of it, past the per-poll budget), then the new file is
            # read from its start while the old one is watched for late lines
            while self._drain(file, consume):
                got = True
            self._retire(file, consume)
            self.rotations += 1
            log.info("%s was rotated (a new file took its name); reading the new one", self.path)
            self._file = self._open(first=False)
            if self._file is not None:
                got |= self._drain(self._file, consume)
        return got

    @property
    def reading(self) -> bool:
        """True while a file is open (also one moved away whose successor is not there)."""
        return self._file is not None

    def close(self) -> None:
        for file in (self._file, self._rotated):
            if file is not None:
                file.close()
        self._file = self._rotated = None

    # -- opening and closing ------------------------------------------------------------

    def _open(self, first: bool) -> _OpenFile | None:
        try:
            # O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below)
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            self._failed(exc.strerror or str(exc))
            return None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise OSError(0, "not a regular file")
            start = max(0, info.st_size - self.readback_bytes) if first else 0
            file = _OpenFile(fd, (info.st_dev, info.st_ino), start)
        except OSError as exc:
            os.close(fd)
            self._failed(exc.strerror or str(exc))
            return None
        if self.error is not None:
            log.info("%s is readable again", self.path)
        self.error = None
        return file

    def _failed(self, reason: str) -> None:
        if self.error is None:
            self.open_errors += 1
            log.warning("cannot read %s: %s; retrying", self.path, reason)
        self.error = reason

    def _path_identity(self) -> tuple[int, int] | None:
        try:
            info = os.stat(self.path)
        except OSError:
            return None  # moved away and not yet recreated: keep reading the old file
        return (info.st_dev, info.st_ino)

    def _retire(self, file: _OpenFile, consume: Callable[[bytes], None]) -> None:
        """Keep the rotated-away file open for late lines; one rotated file at a time."""
        if self._rotated is not None:
            self._close_rotated(consume)
        file.last_data = time.monotonic()
        self._rotated = file

    def _poll_rotated(self, consume: Callable[[bytes], None]) -> bool:
        file = self._rotated
        if file is None:
            return False
        if self._drain(file, consume):
            file.last_data = time.monotonic()
            return True
        if time.monotonic() - file.last_data >= self.rotate_wait:
            self._close_rotated(consume)
        return False

    def _close_rotated(self, consume: Callable[[bytes], None]) -> None:
        assert self._rotated is not None
        while self._drain(self._rotated, consume):
            pass
        self._finish_partial(self._rotated, consume)
        self._rotated.close()
        self._rotated = None

    # -- reading ------------------------------------------------------------------------

    def _check_truncated(self, file: _OpenFile, consume: Callable[[bytes], None]) -> bool:
        size = os.fstat(file.fd).st_size
        truncated = size < file.offset
        if not truncated and file.head:
            truncated = os.pread(file.fd, len(file.head), 0) != file.head
        if not truncated:
            return False
        self._finish_partial(file, consume)
        self.rotations += 1
        log.info("%s was truncated (copytruncate); reading it again from its start", self.path)
        file.offset = 0
        file.head = os.pread(file.fd, HEAD_BYTES, 0)
        return True

    def _drain(self, file: _OpenFile, consume: Callable[[bytes], None]) -> bool:
        budget = MAX_BYTES_PER_POLL
        got = False
        while budget > 0:
            chunk = os.pread(file.fd, self.chunk_bytes, file.offset)
            if not chunk:
                break
            got = True
            file.offset += len(chunk)
            budget -= len(chunk)
            if len(file.head) < HEAD_BYTES:
                file.head = os.pread(file.fd, HEAD_BYTES, 0)
            self._take(file, chunk, consume)
        return got

    def _take(self, file: _OpenFile, chunk: bytes, consume: Callable[[bytes], None]) -> None:
        if file.discarding:
            end = chunk.find(b"\n")
            if end < 0:
                return
            file.discarding = False
            chunk = chunk[end + 1 :]
        first = chunk.find(b"\n")
        if first < 0:
            file.partial += chunk
            self._cut_if_too_long(file, consume)
            return
        if file.partial and len(file.partial) + first > self.max_line_bytes:
            self._emit_cut(file.partial + chunk[: self.max_line_bytes - len(file.partial)], consume)
            file.partial, chunk = b"", chunk[first + 1 :]
        last = chunk.rfind(b"\n")
        if last >= 0:
            consume(file.partial + chunk[: last + 1])
            file.partial = b""
        file.partial += chunk[last + 1 :]
        self._cut_if_too_long(file, consume)

    def _cut_if_too_long(self, file: _OpenFile, consume: Callable[[bytes], None]) -> None:
        if len(file.partial) > self.max_line_bytes:
            self._emit_cut(file.partial[: self.max_line_bytes], consume)
            file.partial = b""
            file.discarding = True

    def _emit_cut(self, head: bytes, consume: Callable[[bytes], None]) -> None:
        self.truncated_lines += 1
        self._warn_cut("%s: a line longer than %d bytes was cut", self.path, self.max_line_bytes)
        consume(head + b"\n")

    def _finish_partial(self, file: _OpenFile, consume: Callable[[bytes], None]) -> None:
        """The file ends without a newline and will get no more: its last line is whole."""
        if file.partial and not file.discarding:
            consume(file.partial + b"\n")
        file.partial = b""
        file.discarding = False


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
