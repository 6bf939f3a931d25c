"""Warnings about bad input that cannot flood the exporter's own log.

A log full of garbage would otherwise produce one warning per bad line; the counters say
how many there were, and the log says what kind, once a minute at most.
"""

from __future__ import annotations

import logging
import time


class ThrottledWarning:
    """Log the first occurrence at once, then at most one summary per `every` seconds."""

    def __init__(self, logger: logging.Logger, every: float = 60.0) -> None:
        self.logger = logger
        self.every = every
        self._last = float("-inf")
        self._suppressed = 0

    def __call__(self, message: str, *args: object, exc_info: bool = False) -> None:
        now = time.monotonic()
        if now - self._last < self.every:
            self._suppressed += 1
            return
        if self._suppressed:
            message += " (and %d more like it since the last report)"
            args = (*args, self._suppressed)
        self.logger.warning(message, *args, exc_info=exc_info)
        self._last = now
        self._suppressed = 0
