"""prometheus_client's multiprocess file, made safe on a full, missing or read-only directory.

prometheus_client's `MmapedDict` grows its file with `truncate()`, which makes a sparse file,
then writes into the mapping: on a full tmpfs or disk the page cannot be backed and the process
dies of SIGBUS. It also raises from every value write when the directory is gone or read-only.
No public hook exists, so `install()` puts `SafeMmapedDict` in its place in
`prometheus_client.values` (where the value class looks the name up when it opens a file).

`SafeMmapedDict` reserves the file's space with `posix_fallocate` before mapping it (at creation
and every growth), so a write into the mapping cannot SIGBUS, and it never raises: a key, or the
whole file, that cannot be had is "detached": reads give 0, writes are counted as dropped, and
it is tried again at most once a second. The value objects keep their running totals in
memory, so the first write that lands carries every increment made meanwhile.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
import time

import prometheus_client.values
from prometheus_client.mmap_dict import _INITIAL_MMAP_SIZE, MmapedDict

from . import dropped

RETRY_SECONDS = 1.0
_pack_integer = struct.Struct("i").pack
_unpack_integer = struct.Struct("i").unpack_from
_ZERO = (0.0, 0.0)


class SafeMmapedDict(MmapedDict):
    def __init__(self, filename: str, read_mode: bool = False) -> None:
        self._fname = filename
        self._read_mode = read_mode
        self._f = None
        self._m = None
        self._capacity = 0
        self._used = 8
        self._positions: dict[str, int] = {}
        self._retry_at = 0.0
        self._reason = "other"
        self._open()

    def _open(self) -> bool:
        """Map the file, space reserved; on failure note the drop and retry later."""
        f = None
        created = False
        try:
            f = open(self._fname, "rb" if self._read_mode else "a+b")  # noqa: SIM115 kept open
            capacity = os.fstat(f.fileno()).st_size
            if capacity == 0:
                created, capacity = True, _INITIAL_MMAP_SIZE
            if not self._read_mode:
                # Also backs the holes of a file a plain MmapedDict made sparse.
                os.posix_fallocate(f.fileno(), 0, capacity)
            access = mmap.ACCESS_READ if self._read_mode else mmap.ACCESS_WRITE
            m = mmap.mmap(f.fileno(), capacity, access=access)
            used = _unpack_integer(m, 0)[0]
            if used == 0:
                used = 8
                m[0:4] = _pack_integer(used)
            self._f, self._m, self._capacity, self._used = f, m, capacity, used
            if not self._read_mode:
                self._positions = {key: pos for key, _, _, pos in self._read_all_values()}
            return True
        except (OSError, ValueError, RuntimeError, struct.error) as exc:
            self._m = None
            if f is not None:
                f.close()
            if created:  # an empty file would read as damaged
                with contextlib.suppress(OSError):
                    os.unlink(self._fname)
            self._f = None
            reason = dropped.reason_of(exc) if isinstance(exc, OSError) else "damaged_file"
            self._failed(reason, exc)
            return False

    def _failed(self, reason: str, exc: BaseException) -> None:
        self._retry_at = time.monotonic() + RETRY_SECONDS
        self._reason = reason
        dropped.note_drop(reason, self._fname, exc)

    def _init_value(self, key: str) -> None:
        encoded = key.encode("utf-8")
        padded = encoded + (b" " * (8 - (len(encoded) + 4) % 8))
        value = struct.pack(f"i{len(padded)}sdd", len(encoded), padded, 0.0, 0.0)
        capacity = self._capacity
        while self._used + len(value) > capacity:
            capacity *= 2
        if capacity != self._capacity:
            # Reserve before mapping: the old mapping stays valid if this fails.
            os.posix_fallocate(self._f.fileno(), 0, capacity)
            self._m = mmap.mmap(self._f.fileno(), capacity)
            self._capacity = capacity
        self._m[self._used : self._used + len(value)] = value
        self._used += len(value)
        self._m[0:4] = _pack_integer(self._used)
        self._positions[key] = self._used - 16

    def _place(self, key: str) -> bool:
        """Whether `key` has its place in a mapped file (made now if due)."""
        if key in self._positions:
            return True
        if time.monotonic() < self._retry_at:
            dropped.note_drop(self._reason, self._fname, key)  # failing as last seen
            return False
        if self._m is None and not self._open():
            return False
        if key in self._positions:
            dropped.note_recorded(self._fname)
            return True
        try:
            self._init_value(key)
        except (OSError, ValueError) as exc:
            self._failed(dropped.reason_of(exc), exc)
            return False
        dropped.note_recorded(self._fname)
        return True

    def read_value(self, key: str) -> tuple[float, float]:
        if key in self._positions or self._place(key):
            return super().read_value(key)
        return _ZERO

    def write_value(self, key: str, value: float, timestamp: float) -> None:
        if key in self._positions or self._place(key):
            super().write_value(key, value, timestamp)


def install() -> None:
    """Make prometheus_client open its multiprocess files as SafeMmapedDict (idempotent).

    Files already open stay as they are until the next fork reopens them."""
    prometheus_client.values.MmapedDict = SafeMmapedDict
