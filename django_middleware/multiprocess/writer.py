"""The middleware's multiprocess writer: a request's count, duration sum and bucket written
straight into prometheus_client's files.

prometheus_client's value class takes its process-wide lock, calls os.getpid() (a system call)
and looks its key's place up in the file for every value it writes, and a request writes
three: the count, the histogram's sum and one bucket. `MmapRequestSeries` writes the three
under one lock after one pid check, at places looked up once, each as one store of a double
into a view of the file (struct's pack_into would parse its arguments and take the buffer on
every call). It writes the same bytes at the same offsets into the very files prometheus_client
opened (through a mapping of its own: see _place), so the files, and whoever reads them
(prometheus_client's MultiProcessCollector, ours), see no difference.

prometheus_client has no public hook for this (a custom value class must be installed before
any metric exists, and django-prometheus creates its metrics on import), so the writer reads a
few attributes of prometheus_client's values (`_file`, `_key`, `_value`) and files (`_f`,
`_positions`). `can_write` checks they are there; otherwise the middleware uses the public
API (django_middleware/request_series.py): slower, the same numbers.
"""

from __future__ import annotations

import contextlib
import mmap
import os
from bisect import bisect_left
from typing import Any

from .. import value_writes

_getpid = os.getpid


class MmapRequestSeries:
    """A request counter child and a duration histogram child, written straight into
    prometheus_client's multiprocess files.

    Every write to these two children must come through here (the middleware's are): a
    write through the children's own API takes prometheus_client's lock, not this one.
    """

    __slots__ = ("_count_value", "_sum_value", "_bucket_values", "_bounds", "_pid", "_places")

    def __init__(self, requests: Any, duration: Any) -> None:
        self._count_value = requests._value
        self._sum_value = duration._sum
        self._bucket_values = duration._buckets
        self._bounds = value_writes.shared_bounds(
            duration._upper_bounds
        )  # ends with +Inf, as the buckets do
        self._pid = 0  # bound at the first write
        # count, sum, then the buckets, each as value object, its file, the offset of its 16
        # bytes, in one flat tuple (no object per value to fetch on each request); None while
        # a value has no place in its file (a full directory, say)
        self._places: tuple | None = ()

    def record(self, seconds: float, exemplar: dict[str, str] | None = None) -> None:
        # `exemplar` is dropped: prometheus_client keeps none in multiprocess mode either.
        # `seconds` is a perf_counter difference, never NaN (which no bucket would count).
        # acquire and release, not `with`: no bound __enter__ and __exit__ made per request.
        lock = value_writes.lock
        lock.acquire()
        try:
            # One getpid() per request rather than an at-fork hook: a fork made outside
            # os.fork (a C extension, an embedding server) runs no hooks.
            if self._pid != _getpid():
                self._bind()
            places = self._places
            if places is None:
                self._record_through_values(seconds)
                return
            # What prometheus_client's MmapedValue.inc does, without its lock and pid check,
            # spelled out three times (a call each would cost more than the write): the
            # in-memory value stays current for its get(), the file gets the value as one
            # double (its timestamp stays the 0 prometheus_client wrote).
            value = places[0]
            value._value = places[1][places[2]] = value._value + 1.0
            value = places[3]
            value._value = places[4][places[5]] = value._value + seconds
            # The first bound >= seconds: `le` is inclusive, as in prometheus_client's observe.
            at = 6 + 3 * bisect_left(self._bounds, seconds)
            value = places[at]
            value._value = places[at + 1][places[at + 2]] = value._value + 1.0
        finally:
            lock.release()

    def _bind(self) -> None:
        """Look up where the values live in this process's files (again after a fork)."""
        # After a fork prometheus_client reopens its files for the new pid, and resets every
        # value from them, at the next use of any value: get() is one.
        self._count_value.get()
        values = self._values()
        self._pid = _getpid()
        self._places = None
        if all(value._key in value._file._positions for value in values):
            # No mapping to be had: written through the values, as a detached key is.
            with contextlib.suppress(OSError, ValueError):
                self._places = tuple(item for value in values for item in _place(value))

    def _values(self) -> tuple[Any, ...]:
        return (self._count_value, self._sum_value, *self._bucket_values)

    def _record_through_values(self, seconds: float) -> None:
        # prometheus_client's values write through safe_mmap, which counts what it cannot
        # place and places it once there is room again; then the fast path takes over.
        self._count_value.inc(1.0)
        self._sum_value.inc(seconds)
        self._bucket_values[bisect_left(self._bounds, seconds)].inc(1.0)
        self._bind()


class MmapTenantRequestSeries(MmapRequestSeries):
    """Plus a per-tenant duration histogram child (PAINEL TENANT_LATENCY "per_tenant"), with
    the same bounds: its sum and bucket written under the same lock. A separate class so
    that the common writer above stays as it is."""

    __slots__ = ("_tenant_sum_value", "_tenant_bucket_values", "_tenant_at")

    def __init__(self, requests: Any, duration: Any, tenant_duration: Any) -> None:
        super().__init__(requests, duration)
        self._tenant_sum_value = tenant_duration._sum
        self._tenant_bucket_values = tenant_duration._buckets
        # where the tenant sum's value, file and offset start in _places, its buckets after
        self._tenant_at = 3 * (2 + len(self._bucket_values))

    def record(self, seconds: float, exemplar: dict[str, str] | None = None) -> None:
        with value_writes.lock:
            if self._pid != _getpid():
                self._bind()
            places = self._places
            if places is None:
                self._record_through_values(seconds)
                return
            bucket = bisect_left(self._bounds, seconds)
            _add(places, 0, 1.0)
            _add(places, 3, seconds)
            _add(places, 6 + 3 * bucket, 1.0)
            tenant_at = self._tenant_at
            _add(places, tenant_at, seconds)
            _add(places, tenant_at + 3 + 3 * bucket, 1.0)

    def _values(self) -> tuple[Any, ...]:
        return (*super()._values(), self._tenant_sum_value, *self._tenant_bucket_values)

    def _record_through_values(self, seconds: float) -> None:
        bucket = bisect_left(self._bounds, seconds)
        self._tenant_sum_value.inc(seconds)
        self._tenant_bucket_values[bucket].inc(1.0)
        super()._record_through_values(seconds)


def _add(places: tuple, at: int, amount: float) -> None:
    """MmapRequestSeries.record's write of the value whose place starts at `at`, as a call:
    the per-tenant writer's five writes need no hand-spelled copy."""
    value = places[at]
    value._value = places[at + 1][places[at + 2]] = value._value + amount


# id(file) -> (file, the mapping's length, the mapping as doubles), in this process
_views: dict[int, tuple[Any, int, memoryview]] = {}
os.register_at_fork(after_in_child=_views.clear)  # the parent's files: a child has its own


def _place(value: Any) -> tuple[Any, memoryview, int]:
    """The value, its file as doubles, the index of its value double.

    The file's own mapping, seen as doubles, would be one index and one store a write, but
    a view exported from it makes prometheus_client's close() of the file (after every fork)
    fail: the writer maps the file again, a mapping of its own that only its views hold.
    MAP_SHARED, so both mappings write the same pages. Its length is the file's at the time:
    a value placed later, past it, maps the file anew (the old mapping stays as long as a
    series writes through it)."""
    file = value._file
    offset = file._positions[value._key]
    entry = _views.get(id(file))
    if entry is None or entry[0] is not file or offset + 8 > entry[1]:
        fileno = file._f.fileno()
        length = os.fstat(fileno).st_size  # all of it backed (safe_mmap reserves its space)
        entry = (file, length, memoryview(mmap.mmap(fileno, length)).cast("d"))
        _views[id(file)] = entry
    return value, entry[2], offset // 8


def _writes_mmap_files(value: Any) -> bool:
    """Whether `value` is a prometheus_client multiprocess value laid out as this module
    expects (a newer prometheus_client may differ)."""
    if not getattr(value, "_multiprocess", False):
        return False
    file = getattr(value, "_file", None)
    positions = getattr(file, "_positions", None)
    return (
        isinstance(getattr(value, "_value", None), float)
        and hasattr(getattr(file, "_f", None), "fileno")
        and isinstance(positions, dict)
        and getattr(value, "_key", None) in positions
        and positions[value._key] % 8 == 0  # the value double is aligned (it is, padded)
    )


def can_write(requests: Any, *durations: Any) -> bool:
    """Whether MmapRequestSeries can write these children (multiprocess mode, and
    prometheus_client's values as this module expects them); histograms of equal bounds."""
    values = [getattr(requests, "_value", None)]
    bounds = getattr(durations[0], "_upper_bounds", None)
    for duration in durations:
        buckets = getattr(duration, "_buckets", None)
        if not (
            buckets
            and bounds
            and len(buckets) == len(bounds)
            and getattr(duration, "_upper_bounds", None) == bounds
        ):
            return False
        values += [getattr(duration, "_sum", None), *buckets]
    return all(map(_writes_mmap_files, values))
