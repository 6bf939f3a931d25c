"""What both direct writers of a request's values (memory_writer, multiprocess.writer) share:
the process's lock around their read-add-write, and one tuple of bucket bounds per bound set.

A process writes through one of the two (single-process or multiprocess mode), so one lock
serves both.
"""

from __future__ import annotations

import os
import threading

# Read as `value_writes.lock` at each write, not imported by name: a fork replaces it.
lock = threading.Lock()


def _renew_lock() -> None:
    # A fork while another thread held the lock would leave the child's copy held for good.
    global lock
    lock = threading.Lock()


os.register_at_fork(after_in_child=_renew_lock)

# Every histogram child has its own list of the same bounds: one tuple for all keeps the
# bisect's floats in cache when each request writes another series.
_bounds: dict[tuple[float, ...], tuple[float, ...]] = {}


def shared_bounds(bounds: list[float]) -> tuple[float, ...]:
    key = tuple(bounds)
    return _bounds.setdefault(key, key)
