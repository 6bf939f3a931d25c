"""Every metric object the middleware records into, and the cache of their label children.

`labels(...)` on a prometheus_client metric validates and looks up its labels on every call;
the middleware records one series per (method, endpoint, tenant) again and again, so it keeps
the children in a dict instead, as one request series per label set (see request_series.py).
The labels are bounded, so the dict is too.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from .request_series import AnyRequestSeries, request_series

HTTP_LABELS = ("method", "endpoint", "tenant")


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
        # (method, endpoint, status, tenant) -> its requests and duration children
        self.children: dict[tuple[str, str, int, str], AnyRequestSeries] = {}

    def add_children(self, key: tuple[str, str, int, str]) -> AnyRequestSeries:
        """The children for a label set the cache has not seen yet (then cached)."""
        method, endpoint, status, tenant = key
        series = request_series(
            self.requests.labels(method, endpoint, str(status), tenant),
            self.duration.labels(method, endpoint, tenant),
        )
        # Start the slow counter at 0 with its series, so rate() sees the first slow request.
        self.slow.labels(method, endpoint, tenant)
        # A race between threads only looks the same children up twice: labels() is idempotent.
        self.children[key] = series
        return series

    def unregister(self) -> None:
        for metric in (self.requests, self.duration, self.slow, self.exceptions):
            self.registry.unregister(metric)
