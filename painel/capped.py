"""Label values bounded per process: the first N distinct values as they come, then `<other>`."""

from __future__ import annotations

import threading

OTHER = "<other>"


class CappedValues:
    """Values cut at `max_length`; once `limit` distinct ones were admitted, new ones read `<other>`.

    Thread-safe. `known` (the admitted values) may be read without the lock: a hot path
    checks `value in capped.known` and calls `admit` only for a value not seen yet.
    """

    def __init__(self, limit: int, max_length: int) -> None:
        self.limit = limit
        self.max_length = max_length
        self.known: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        value = value[: self.max_length]
        return value if value in self.known else self.admit(value)

    def admit(self, value: str) -> str:
        """`value` (already cut) when admitted now or before, else `<other>`."""
        with self._lock:
            if value in self.known:
                return value
            if len(self.known) >= self.limit:
                return OTHER
            self.known.add(value)
            return value
