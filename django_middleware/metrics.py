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
ENDPOINT_LABELS = ("method", "endpoint")


class HttpMetrics:
    def __init__(
        self,
        buckets: tuple[float, ...],
        registry: CollectorRegistry = REGISTRY,
        tenant_latency: str = "per_endpoint",
    ) -> None:
        self.registry = registry
        # PAINEL TENANT_LATENCY (the series budget): whether the duration histogram and the
        # slow counter carry the tenant next to the endpoint.
        self.latency_by_tenant = tenant_latency == "per_endpoint"
        latency_labels = HTTP_LABELS if self.latency_by_tenant else ENDPOINT_LABELS
        self.requests = Counter(
            "django_http_requests",
            "HTTP requests answered, by method, route, status code and tenant.",
            ("method", "endpoint", "status", "tenant"),
            registry=registry,
        )
        self.duration = Histogram(
            "django_http_request_duration_seconds",
            "Time from the first middleware to the response, by method, route"
            + (" and tenant." if self.latency_by_tenant else "."),
            latency_labels,
            buckets=buckets,
            registry=registry,
        )
        self.slow = Counter(
            "django_http_slow_requests",
            "HTTP requests slower than PAINEL['SLOW_REQUEST_THRESHOLD'].",
            latency_labels,
            registry=registry,
        )
        # per_tenant: each tenant's latency without the endpoint, tenants x buckets series
        # instead of endpoints x tenants x buckets.
        self.tenant_duration = (
            Histogram(
                "django_http_tenant_request_duration_seconds",
                "Time from the first middleware to the response, by tenant (all routes).",
                ("tenant",),
                buckets=buckets,
                registry=registry,
            )
            if tenant_latency == "per_tenant"
            else None
        )
        self.exceptions = Counter(
            "django_http_exceptions",
            "Exceptions raised by views, by method, route, tenant and exception class.",
            (*HTTP_LABELS, "exception"),
            registry=registry,
        )
        # (method, endpoint, status, tenant) -> its requests and duration children
        self.children: dict[tuple[str, str, int, str], AnyRequestSeries] = {}

    def latency_labels(self, method: str, endpoint: str, tenant: str) -> tuple[str, ...]:
        return (method, endpoint, tenant) if self.latency_by_tenant else (method, endpoint)

    def slow_child(self, method: str, endpoint: str, tenant: str):
        return self.slow.labels(*self.latency_labels(method, endpoint, tenant))

    def add_children(self, key: tuple[str, str, int, str]) -> AnyRequestSeries:
        """The children for a label set the cache has not seen yet (then cached)."""
        method, endpoint, status, tenant = key
        latency = self.latency_labels(method, endpoint, tenant)
        series = request_series(
            self.requests.labels(method, endpoint, str(status), tenant),
            self.duration.labels(*latency),
            None if self.tenant_duration is None else self.tenant_duration.labels(tenant),
        )
        # Start the slow counter at 0 with its series, so rate() sees the first slow request.
        self.slow.labels(*latency)
        # A race between threads only looks the same children up twice: labels() is idempotent.
        self.children[key] = series
        return series

    def unregister(self) -> None:
        for metric in (self.requests, self.duration, self.slow, self.exceptions):
            self.registry.unregister(metric)
        if self.tenant_duration is not None:
            self.registry.unregister(self.tenant_duration)
