"""Label values for method, endpoint, tenant and exception, each bounded whatever the traffic."""

from __future__ import annotations

import logging
import time
from typing import Any

from painel.capped import CappedValues

from .multiprocess.admitted import SharedCappedValues

STANDARD_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")
)
OTHER_METHOD = "OTHER"
UNMATCHED = "<unmatched>"
NO_TENANT = "<none>"
# getattr(request, "tenant", ABSENT) is ABSENT: django-tenants has not set request.tenant.
# getattr with a default raises nothing inside for a missing attribute, where reading
# request.__dict__ would turn the request's inline attributes into a dict for the rest of the
# request, and every later attribute read, Django's too, into a dict look-up (about 1,500
# instructions a request, counted with benchmarks/middleware_instructions.py).
ABSENT = object()
TENANT_MAX_LENGTH = 64
RESOLVER_ERROR_LOG_INTERVAL = 60.0  # seconds

logger = logging.getLogger(__name__)


def method_label(method: str | None) -> str:
    return method if method in STANDARD_METHODS else OTHER_METHOD


# route pattern -> label; bounded by the URLconf, so the cache needs no eviction.
endpoint_labels: dict[str, str] = {}


def endpoint_label(request: Any) -> str:
    """'/' + the matched route with includes joined (Django's ResolverMatch.route), never the
    raw path: `/api/v1/orders/<int:pk>/`, or `<unmatched>` when no route matched."""
    match = request.resolver_match
    if match is None:
        return UNMATCHED
    route = match.route
    label = endpoint_labels.get(route)
    if label is None:
        # re_path routes keep their regex; only the anchors go, they say nothing to a reader.
        label = endpoint_labels[route] = "/" + route.removeprefix("^").removesuffix("$")
    return label


_exception_names: dict[type, str] = {}


def exception_label(exc_type: type) -> str:
    """`ValueError` for builtins, the full dotted name (`django.db.utils.OperationalError`)
    for everything else."""
    name = _exception_names.get(exc_type)
    if name is None:
        module = exc_type.__module__
        name = (
            exc_type.__qualname__ if module == "builtins" else f"{module}.{exc_type.__qualname__}"
        )
        _exception_names[exc_type] = name
    return name


class TenantLabels:
    """Resolve a request's tenant and keep the label set bounded per process.

    First that answers: the configured resolver, django-tenants' `request.tenant.schema_name`,
    the tenant header, else `<none>`. Values are cut at 64 characters; once `max_tenants`
    distinct values have been admitted (in the process, or in the whole gunicorn instance
    with a shared cap), new ones count as `<other>`.
    """

    def __init__(
        self,
        meta_key: str,
        resolver: Any,
        max_tenants: int,
        cap: CappedValues | SharedCappedValues | None = None,
    ) -> None:
        self.meta_key = meta_key
        self.resolver = resolver
        # Under gunicorn a cap shared by the workers (runtime.py), else this process's own.
        self.cap = cap if cap is not None else CappedValues(max_tenants, TENANT_MAX_LENGTH)
        self._resolver_error_logged_at = -RESOLVER_ERROR_LOG_INTERVAL

    def __call__(self, request: Any) -> str:
        return self.label(self.value(request))

    def value(self, request: Any) -> Any:
        """The tenant as the first source that answers gives it (None when none does)."""
        value = None
        if self.resolver is not None:
            try:
                value = self.resolver(request)
            except Exception:
                # A broken resolver must not break the request: log it (once a minute, not
                # once per request), try the next source.
                now = time.monotonic()
                if now - self._resolver_error_logged_at >= RESOLVER_ERROR_LOG_INTERVAL:
                    self._resolver_error_logged_at = now
                    logger.exception("painel: TENANT_RESOLVER raised; using the next source")
        if not value:
            tenant = getattr(request, "tenant", None)
            if tenant is not None:
                value = getattr(tenant, "schema_name", None)
            if not value:
                value = request.META.get(self.meta_key)
        return value

    def label(self, value: Any) -> str:
        if not value:
            return NO_TENANT
        return self.cap(value if type(value) is str else str(value))
