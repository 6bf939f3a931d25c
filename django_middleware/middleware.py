"""MetricsMiddleware: placed first in MIDDLEWARE, it times everything below it.

Labels are resolved after the response, because the route, django-tenants' `request.tenant`
and `request.user` only exist once the inner layers have run.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from . import runtime
from .labels import STANDARD_METHODS, endpoint_label, exception_label
from .slowlog import log_slow_request, request_id, user_value

# Set by process_exception so the count after the response knows what the view raised.
_EXCEPTION_ATTR = "_painel_exception"


class MetricsMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response
        self.runtime = runtime.current()
        settings = self.runtime.settings
        self.excluded_paths = settings.excluded_paths
        self.excluded_prefixes = settings.excluded_prefixes
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            # Under ASGI Django then awaits us directly: no thread hop for this layer.
            markcoroutinefunction(self)

    def __call__(self, request: Any) -> Any:
        if self.is_async:
            return self._acall(request)
        path = request.path_info
        if path in self.excluded_paths or path.startswith(self.excluded_prefixes):
            return self.get_response(request)
        start = perf_counter()
        try:
            response = self.get_response(request)
        except BaseException:
            # Only when DEBUG_PROPAGATE_EXCEPTIONS lets an exception through Django's handler.
            self._record(request, 500, perf_counter() - start)
            raise
        self._record(request, response.status_code, perf_counter() - start)
        return response

    async def _acall(self, request: Any) -> Any:
        path = request.path_info
        if path in self.excluded_paths or path.startswith(self.excluded_prefixes):
            return await self.get_response(request)
        start = perf_counter()
        try:
            response = await self.get_response(request)
        except BaseException:
            self._record(request, 500, perf_counter() - start)
            raise
        self._record(request, response.status_code, perf_counter() - start)
        return response

    def process_exception(self, request: Any, exception: BaseException) -> None:
        # Returning None lets Django's own handling go on exactly as without us.
        setattr(request, _EXCEPTION_ATTR, exception)

    def _record(self, request: Any, status: int, duration: float) -> None:
        runtime = self.runtime
        method = request.method
        if method not in STANDARD_METHODS:
            method = "OTHER"
        endpoint = endpoint_label(request)
        tenant = runtime.tenants(request)
        series = runtime.metrics.series(method, endpoint, tenant)
        series.count(status)
        exception = request.__dict__.get(_EXCEPTION_ATTR)
        if exception is not None:
            runtime.metrics.exceptions.labels(
                method, endpoint, tenant, exception_label(type(exception))
            ).inc()
        if duration <= runtime.settings.slow_request_threshold:
            series.duration.observe(duration)
            return
        # A slow request: count it, log it, and link its histogram bucket to the log record.
        rid = request_id(request)
        series.duration.observe(duration, {"request_id": rid, "tenant": tenant})
        series.slow.inc()
        log_slow_request(
            endpoint=endpoint,
            method=method,
            tenant=tenant,
            user=user_value(request, runtime.settings.user_field),
            status=status,
            duration=duration,
            request_id=rid,
        )
