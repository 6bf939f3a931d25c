"""One run at a time per key: a call still running is joined, never started twice.

A scrape that finds a collector (or a Redis server) still busy from an earlier scrape
waits on that same run, so a target that hangs holds one thread however often
Prometheus scrapes, instead of one more thread per scrape.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class SingleFlight:
    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self._pool = pool
        self._lock = threading.Lock()
        self._running: dict[Hashable, Future] = {}

    def run(self, key: Hashable, call: Callable[[], T]) -> Future[T]:
        """The running call for `key`, or `call` submitted now when none is running."""
        with self._lock:
            running = self._running.get(key)
            if running is None or running.done():
                running = self._pool.submit(call)
                self._running[key] = running
            return running
