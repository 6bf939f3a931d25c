"""Every metric object the middleware records into, and the cache of their label children.

`labels(...)` on a prometheus_client metric validates and looks up its labels on every call;
the middleware records one series per (method, endpoint, tenant) again and again, so it keeps
the children in a dict instead. The labels are bounded, so the dict is too.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

HTTP_LABELS = ("method", "endpoint", "tenant")


class Series:
    """The children of one (method, endpoint, tenant): what a request records into."""

    __slots__ = ("_requests", "_labels", "_by_status", "duration", "slow")

    def __init__(self, metrics: HttpMetrics, labels: tuple[str, str, str]) -> None:
        method, endpoint, tenant = labels
        self._requests = metrics.requests
        self._labels = labels
        self._by_status: dict[int, object] = {}
        self.duration = metrics.duration.labels(method, endpoint, tenant)
        self.slow = metrics.slow.labels(method, endpoint, tenant)

    def count(self, status: int) -> None:
        child = self._by_status.get(status)
        if child is None:
            method, endpoint, tenant = self._labels
            child = self._by_status[status] = self._requests.labels(
                method, endpoint, str(status), tenant
            )
        child.inc()


class HttpMetrics:
    def __init__(self, buckets: tuple[float, ...], registry: CollectorRegistry = REGISTRY) -> None:
        self.registry = registry
        self.requests = Counter(
            "django_http_requests",
            "HTTP requests answered, by method, route, status code and tenant.",
            ("method", "endpoint", "status", "tenant"),
            registry=registry,
        )
        self.duration = Histogram(
            "django_http_request_duration_seconds",
            "Time from the first middleware to the response, by method, route and tenant.",
            HTTP_LABELS,
            buckets=buckets,
            registry=registry,
        )
        self.slow = Counter(
            "django_http_slow_requests",
            "HTTP requests slower than PAINEL['SLOW_REQUEST_THRESHOLD'].",
            HTTP_LABELS,
            registry=registry,
        )
        self.exceptions = Counter(
            "django_http_exceptions",
            "Exceptions raised by views, by method, route, tenant and exception class.",
            (*HTTP_LABELS, "exception"),
            registry=registry,
        )
        self._series: dict[tuple[str, str, str], Series] = {}

    def series(self, method: str, endpoint: str, tenant: str) -> Series:
        key = (method, endpoint, tenant)
        series = self._series.get(key)
        if series is None:
            # A race here only builds the same children twice; labels() returns the same ones.
            series = self._series[key] = Series(self, key)
        return series

    def unregister(self) -> None:
        for metric in (self.requests, self.duration, self.slow, self.exceptions):
            self.registry.unregister(metric)
