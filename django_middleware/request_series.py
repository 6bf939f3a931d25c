"""The two series a request updates, its request counter and its duration histogram, written
together.

In a single process they are prometheus_client's own children, through their public API. In
multiprocess mode the multiprocess writer (multiprocess/writer.py) writes them straight into
prometheus_client's files, when prometheus_client's values are laid out as it expects.
"""

from __future__ import annotations

from typing import Any

from .multiprocess.writer import MmapRequestSeries, MmapTenantRequestSeries, can_write


class RequestSeries:
    """prometheus_client's children, through their public API (a single process)."""

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


def request_series(
    requests: Any, duration: Any, tenant_duration: Any = None
) -> RequestSeries | MmapRequestSeries:
    """The cheapest writer prometheus_client's values allow for these children."""
    if tenant_duration is not None:
        if can_write(requests, duration, tenant_duration):
            return MmapTenantRequestSeries(requests, duration, tenant_duration)
        return TenantRequestSeries(requests, duration, tenant_duration)
    if can_write(requests, duration):
        return MmapRequestSeries(requests, duration)
    return RequestSeries(requests, duration)
