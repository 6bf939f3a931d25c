"""MetricsMiddleware: placed first in MIDDLEWARE, it times everything below it.

Labels are resolved after the response, because the route, django-tenants' `request.tenant`
and `request.user` only exist once the inner layers have run. The common path (a request
under the slow threshold) touches as little as it can: one cache lookup, then one counter and
one histogram written together (request_series.py); slow requests and exceptions take the
rarer paths.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async

from . import runtime
from .labels import (
    ABSENT,
    NO_TENANT,
    OTHER_METHOD,
    STANDARD_METHODS,
    TENANT_MAX_LENGTH,
    UNMATCHED,
    endpoint_label,
    endpoint_labels,
    exception_label,
    method_label,
)
from .multiprocess import dropped
from .slowlog import log_slow_request, request_id, user_value

_pending_drops = dropped.pending  # emptied in place by flush()


class MetricsMiddleware:
    sync_capable = True
    async_capable = True
    # Slots, no instance dict: Django wraps each middleware with functools.wraps, which reads
    # the instance's __dict__ and so turns its attributes into a dict look-up on every read.
    # The coroutine markers are what asgiref (3.11) and inspect (3.12+) set under ASGI.
    __slots__ = (
        "get_response",
        "metrics",
        "children",
        "tenant",
        "tenant_from_header",
        "tenant_meta_key",
        "seen",
        "slow_threshold",
        "user_field",
        "excluded_paths",
        "excluded_prefixes",
        "is_async",
        "_is_coroutine",
        "_is_coroutine_marker",
    )

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response
        state = runtime.current()
        self.metrics = state.metrics
        self.children = state.metrics.children
        self.tenant = state.tenants
        self.tenant_from_header = state.tenants.resolver is None
        self.tenant_meta_key = state.tenants.meta_key
        # (method, route, status, tenant header) as the request has them -> the series of
        # their labels; filled by _record with values that are their own label only.
        self.seen: dict[tuple[str, str | None, int, str | None], Any] = {}
        self.slow_threshold = state.settings.slow_request_threshold
        self.user_field = state.settings.user_field
        self.excluded_paths = state.settings.excluded_paths
        self.excluded_prefixes = state.settings.excluded_prefixes
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            # Under ASGI Django then awaits us directly: no thread hop for this layer.
            markcoroutinefunction(self)

    def __call__(self, request: Any) -> Any:
        if self.is_async:
            return self._acall(request)
        path = request.path_info
        if path in self.excluded_paths or (
            self.excluded_prefixes and path.startswith(self.excluded_prefixes)
        ):
            return self.get_response(request)
        start = perf_counter()
        try:
            response = self.get_response(request)
        except BaseException:
            # Only when DEBUG_PROPAGATE_EXCEPTIONS lets an exception through Django's handler.
            self._guarded_record(request, 500, perf_counter() - start)
            raise
        duration = perf_counter() - start
        # _guarded_record, and _record's common case (a request seen before), spelled out:
        # two calls less on every request.
        try:
            status = response.status_code
            series = None
            if (
                self.tenant_from_header
                and duration <= self.slow_threshold
                and getattr(request, "tenant", ABSENT) is ABSENT
            ):
                match = request.resolver_match
                series = self.seen.get(
                    (
                        request.method,
                        None if match is None else match.route,
                        status,
                        request.META.get(self.tenant_meta_key),
                    )
                )
            if series is not None:
                series.record(duration)
            else:
                self._record(request, status, duration)
        except Exception as exc:
            dropped.note_middleware_failure(exc)
        if _pending_drops:
            dropped.flush()
        return response

    def _guarded_record(self, request: Any, status: int, duration: float) -> None:
        # A metrics failure must never cost the request (try costs nothing when nothing fails).
        try:
            self._record(request, status, duration)
        except Exception as exc:
            dropped.note_middleware_failure(exc)
        if _pending_drops:
            dropped.flush()

    async def _acall(self, request: Any) -> Any:
        path = request.path_info
        if path in self.excluded_paths or (
            self.excluded_prefixes and path.startswith(self.excluded_prefixes)
        ):
            return await self.get_response(request)
        start = perf_counter()
        try:
            response = await self.get_response(request)
        except BaseException:
            await self._arecord(request, 500, perf_counter() - start)
            raise
        await self._arecord(request, response.status_code, perf_counter() - start)
        return response

    async def _arecord(self, request: Any, status: int, duration: float) -> None:
        try:
            await self._arecord_unguarded(request, status, duration)
        except Exception as exc:
            dropped.note_middleware_failure(exc)
        if _pending_drops:
            dropped.flush()

    async def _arecord_unguarded(self, request: Any, status: int, duration: float) -> None:
        if duration > self.slow_threshold and self.user_field is not None:
            # The slow-request record names the user, and request.user is usually a lazy
            # object whose first read queries the session store and the database, which
            # Django refuses in the event loop: record it from a thread. Only slow requests
            # pay the hop.
            await sync_to_async(self._record)(request, status, duration)
        else:
            self._record(request, status, duration)

    def _record(self, request: Any, status: int, duration: float) -> None:
        match = request.resolver_match
        route = None if match is None else match.route
        if self.tenant_from_header and getattr(request, "tenant", ABSENT) is ABSENT:
            # The common case: the tenant from the header (no resolver, no django-tenants), and
            # the method, route, status and tenant seen before: one look-up of them as they
            # come, no label worked out again.
            seen = (request.method, route, status, request.META.get(self.tenant_meta_key))
            series = self.seen.get(seen)
            if series is not None and duration <= self.slow_threshold:
                series.record(duration)
                return
        else:
            seen = None
        key = self._labels(request, route, status)
        series = self.children.get(key) or self.metrics.add_children(key)
        if seen is not None and seen[0] is key[0] and (seen[3] == key[3] or not seen[3]):
            # Only what comes as its own label (a standard method, an admitted tenant or none;
            # every route is one): the look-up stays as bounded as the labels.
            self.seen[seen] = series
        if duration <= self.slow_threshold:
            series.record(duration)
        else:
            self._record_slow(request, key, series, duration)

    def _labels(self, request: Any, route: str | None, status: int) -> tuple[str, str, int, str]:
        # The label rules of labels.py, spelled out: the series of a new label set, the slow
        # path and tenants from a resolver or django-tenants come here.
        method = request.method
        if method not in STANDARD_METHODS:
            method = OTHER_METHOD
        if route is None:
            endpoint = UNMATCHED
        else:
            endpoint = endpoint_labels.get(route) or endpoint_label(request)
        tenants = self.tenant
        if tenants.resolver is None and getattr(request, "tenant", ABSENT) is ABSENT:
            tenant = request.META.get(tenants.meta_key)  # the header, the usual source
        else:
            tenant = tenants.value(request)
        if not tenant:
            tenant = NO_TENANT
        elif type(tenant) is str:
            tenant = tenant[:TENANT_MAX_LENGTH]  # no copy when short enough
            if tenant not in tenants.cap.known:
                tenant = tenants.cap.admit(tenant)
        else:
            tenant = tenants.label(tenant)
        return (method, endpoint, status, tenant)

    def _record_slow(self, request: Any, key: tuple, series: Any, duration: float) -> None:
        # Count it, log it, and link its histogram bucket to the log record by request id.
        method, endpoint, status, tenant = key
        rid = request_id(request)
        series.record(duration, {"request_id": rid, "tenant": tenant})
        self.metrics.slow_child(method, endpoint, tenant).inc()
        log_slow_request(
            endpoint=endpoint,
            method=method,
            tenant=tenant,
            user=user_value(request, self.user_field),
            status=status,
            duration=duration,
            request_id=rid,
        )

    def process_exception(self, request: Any, exception: BaseException) -> None:
        """Count what the view raised; returning None lets Django handle it as without us."""
        self.metrics.exceptions.labels(
            method_label(request.method),
            endpoint_label(request),
            self.tenant(request),
            exception_label(type(exception)),
        ).inc()
