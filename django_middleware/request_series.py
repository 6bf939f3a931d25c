"""The two series a request updates, its request counter and its duration histogram, written
together.

In multiprocess mode the multiprocess writer (multiprocess/writer.py) writes them straight
into prometheus_client's files, in a single process the memory writer (memory_writer.py)
straight into its in-memory values, each when prometheus_client's values are laid out as it
expects; otherwise they are written through prometheus_client's public API.
"""

from __future__ import annotations

from typing import Any

from . import memory_writer
from .memory_writer import MemoryRequestSeries
from .multiprocess import writer
from .multiprocess.writer import MmapRequestSeries


class RequestSeries:
    """prometheus_client's children, through their public API (when neither writer can)."""

    __slots__ = ("requests", "duration")

    def __init__(self, requests: Any, duration: Any) -> None:
        self.requests = requests
        self.duration = duration

    def record(self, seconds: float, exemplar: dict[str, str] | None = None) -> None:
        self.requests.inc()
        self.duration.observe(seconds, exemplar)


AnyRequestSeries = MmapRequestSeries | MemoryRequestSeries | RequestSeries


def request_series(requests: Any, duration: Any) -> AnyRequestSeries:
    """The cheapest writer prometheus_client's values allow for these two children."""
    if writer.can_write(requests, duration):
        return MmapRequestSeries(requests, duration)
    if memory_writer.can_write(requests, duration):
        return MemoryRequestSeries(requests, duration)
    return RequestSeries(requests, duration)
