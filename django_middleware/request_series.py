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
from .multiprocess.writer import MmapRequestSeries, MmapTenantRequestSeries


class RequestSeries:
    """prometheus_client's children, through their public API (when neither writer can)."""

    __slots__ = ("requests", "duration")

    def __init__(self, requests: Any, duration: Any) -> None:
        self.requests = requests
        self.duration = duration

    def record(self, seconds: float, exemplar: dict[str, str] | None = None) -> None:
        self.requests.inc()
        self.duration.observe(seconds, exemplar)


class TenantRequestSeries(RequestSeries):
    """Plus the per-tenant duration histogram child (PAINEL TENANT_LATENCY "per_tenant")."""

    __slots__ = ("tenant_duration",)

    def __init__(self, requests: Any, duration: Any, tenant_duration: Any) -> None:
        super().__init__(requests, duration)
        self.tenant_duration = tenant_duration

    def record(self, seconds: float, exemplar: dict[str, str] | None = None) -> None:
        self.requests.inc()
        self.duration.observe(seconds, exemplar)
        self.tenant_duration.observe(seconds, exemplar)


AnyRequestSeries = MmapRequestSeries | MmapTenantRequestSeries | MemoryRequestSeries | RequestSeries


def request_series(requests: Any, duration: Any, tenant_duration: Any = None) -> AnyRequestSeries:
    """The cheapest writer prometheus_client's values allow for these children."""
    if tenant_duration is not None:
        if writer.can_write(requests, duration, tenant_duration):
            return MmapTenantRequestSeries(requests, duration, tenant_duration)
        return TenantRequestSeries(requests, duration, tenant_duration)
    if writer.can_write(requests, duration):
        return MmapRequestSeries(requests, duration)
    if memory_writer.can_write(requests, duration):
        return MemoryRequestSeries(requests, duration)
    return RequestSeries(requests, duration)
