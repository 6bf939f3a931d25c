"""The middleware's single-process writer: a request's count, duration sum and bucket added
straight to prometheus_client's in-memory values.

Through the public API a request costs a Counter.inc and a Histogram.observe: two label checks,
three locks (one per value) and a Python loop over the bucket bounds. `MemoryRequestSeries`
adds the same three amounts to the same value objects under one lock, the bucket found by
bisect, so whoever reads them (the registry, exemplars and all) sees no difference.

It reads a few attributes of prometheus_client's children (`_value`, `_sum`, `_buckets`,
`_upper_bounds`) and of its values (`_value`); `can_write` checks they are there, otherwise
the middleware uses the public API (request_series.py): slower, the same numbers.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from typing import Any

from prometheus_client.samples import Exemplar
from prometheus_client.values import MutexValue

from . import value_writes

try:
    from prometheus_client.validation import _validate_exemplar
except ImportError:  # pragma: no cover - another prometheus_client: the public API then
    _validate_exemplar = None


class MemoryRequestSeries:
    """A request counter child and a duration histogram child of a single process, written
    straight into their values.

    Every write to these two children must come through here (the middleware's are): a
    write through the children's own API takes each value's lock, not this one.
    """

    __slots__ = ("_count", "_sum", "_buckets", "_bounds")

    def __init__(self, requests: Any, duration: Any) -> None:
        self._count = requests._value
        self._sum = duration._sum
        # A tuple holds its items in itself: one object less to fetch than the list.
        self._buckets = tuple(duration._buckets)
        self._bounds = value_writes.shared_bounds(
            duration._upper_bounds
        )  # ends with +Inf, as the buckets do

    def record(self, seconds: float, exemplar: dict[str, str] | None = None) -> None:
        # The first bound >= seconds: `le` is inclusive, as in prometheus_client's observe.
        # `seconds` is a perf_counter difference, never NaN (which no bucket would count).
        bucket = self._buckets[bisect_left(self._bounds, seconds)]
        # acquire and release, not `with`: no bound __enter__ and __exit__ made per request.
        lock = value_writes.lock
        lock.acquire()
        try:
            self._count._value += 1.0
            self._sum._value += seconds
            bucket._value += 1.0
        finally:
            lock.release()
        if exemplar:
            # As Histogram.observe: checked after counting, kept on the bucket counted.
            _validate_exemplar(exemplar)
            bucket.set_exemplar(Exemplar(exemplar, seconds, time.time()))


def _is_memory_value(value: Any) -> bool:
    return type(value) is MutexValue and isinstance(getattr(value, "_value", None), float)


def can_write(requests: Any, duration: Any) -> bool:
    """Whether MemoryRequestSeries can write these two children (a single process, and
    prometheus_client's values as this module expects them)."""
    if _validate_exemplar is None:
        return False
    buckets = getattr(duration, "_buckets", None)
    bounds = getattr(duration, "_upper_bounds", None)
    values = (getattr(requests, "_value", None), getattr(duration, "_sum", None), *(buckets or ()))
    return bool(
        buckets and bounds and len(buckets) == len(bounds) and all(map(_is_memory_value, values))
    )
