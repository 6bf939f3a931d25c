"""A synthetic history of the app's metrics, as OpenMetrics text for `promtool tsdb
create-blocks-from openmetrics`: the families, labels and buckets the middleware publishes
(django_middleware/metrics.py), for many endpoint-tenant pairs on several instances.

Traffic repeats in a cycle of CYCLE scrapes per series (drawn once from a seeded generator), so
a counter's value at any scrape is a multiplication and a table look-up: the hours of history
cost the time it takes to write them, not to draw them. The middleware's own rules hold:
every series starts at 0 (the new-series hold), the slow counter exists with its requests,
buckets are cumulative and `_count` equals the `+Inf` bucket.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from django_middleware.conf import DEFAULT_BUCKETS

JOB = "django"
CYCLE = 40  # scrapes before a series' traffic repeats
BOUNDS = (*(repr(float(b)) for b in DEFAULT_BUCKETS), "+Inf")
# One request in a bin stands for this many seconds in `_sum`: the middle of the bin (the
# last, open one: 1.5 times its lower bound).
_EDGES = (0.0, *DEFAULT_BUCKETS)
_BIN_SECONDS = tuple(
    (_EDGES[i] + DEFAULT_BUCKETS[i]) / 2 if i < len(DEFAULT_BUCKETS) else 1.5 * _EDGES[-1]
    for i in range(len(BOUNDS))
)
SLOW_THRESHOLD = 0.5
_FIRST_SLOW_BIN = DEFAULT_BUCKETS.index(SLOW_THRESHOLD) + 1  # bins above 0.5 s are slow
ENDPOINTS_PER_TENANT = 50
EXCEPTION = "django.db.utils.OperationalError"


@dataclass(frozen=True)
class Pair:
    method: str
    endpoint: str
    tenant: str
    per_second: float  # requests per second on each instance
    typical_bin: int  # where most of its durations fall
    server_errors: bool  # answers some 5xx, each an exception
    not_found: bool  # answers some 404


def pairs(count: int, seed: int = 1) -> list[Pair]:
    """`count` endpoint-tenant pairs: ENDPOINTS_PER_TENANT endpoints times count/50 tenants."""
    rng = random.Random(seed)
    endpoints = min(count, ENDPOINTS_PER_TENANT)
    result = []
    for i in range(count):
        e, t = i % endpoints, i // endpoints
        result.append(
            Pair(
                method="POST" if e % 5 == 0 else "GET",
                endpoint=f"/api/v1/resource{e:02d}/<int:pk>/",
                tenant=f"tenant-{t:03d}",
                per_second=round(rng.uniform(0.02, 1.0), 3),
                typical_bin=min(len(BOUNDS) - 1, int(rng.triangular(0, 10, 3))),
                server_errors=e % 10 == 3,
                not_found=e % 7 == 0,
            )
        )
    return result


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


class SeriesCycle:
    """One pair on one instance: requests per bin in each scrape of the cycle, cumulated."""

    def __init__(self, pair: Pair, scrape_interval: int, rng: random.Random) -> None:
        bins = len(BOUNDS)
        # Per bin, cumulative requests at each position of the cycle (index 0: nothing yet).
        self.bins = [[0] * (CYCLE + 1) for _ in range(bins)]
        self.errors = [0] * (CYCLE + 1)  # 5xx
        self.missing = [0] * (CYCLE + 1)  # 404
        mean = pair.per_second * scrape_interval
        for k in range(1, CYCLE + 1):
            requests = max(0, round(rng.gauss(mean, mean**0.5)))
            counts = [0] * bins
            for _ in range(requests):
                counts[min(bins - 1, max(0, pair.typical_bin + round(rng.gauss(0, 1))))] += 1
            for b in range(bins):
                self.bins[b][k] = self.bins[b][k - 1] + counts[b]
            errors = sum(rng.random() < 0.05 for _ in range(requests)) if pair.server_errors else 0
            missing = sum(rng.random() < 0.1 for _ in range(requests)) if pair.not_found else 0
            self.errors[k] = self.errors[k - 1] + errors
            self.missing[k] = self.missing[k - 1] + missing

    @staticmethod
    def at(cumulative: list[int], scrape: int) -> int:
        """The counter after `scrape` scrapes (0 at scrape 0)."""
        turns, rest = divmod(scrape, CYCLE)
        return turns * cumulative[CYCLE] + cumulative[rest]


@dataclass(frozen=True)
class History:
    """`instances` app instances serving `pair_count` pairs, scraped every `scrape_interval`
    seconds from `start` (their process start: every counter 0) on."""

    pair_count: int = 1000
    instances: int = 2
    scrape_interval: int = 15
    start: int = 0
    seed: int = 1

    def series_count(self) -> int:
        per_pair = [
            1 + len(BOUNDS) + 2 + 1 + 2 * p.server_errors + p.not_found
            for p in pairs(self.pair_count, self.seed)
        ]
        return self.instances * sum(per_pair)

    def openmetrics(self, scrapes: list[int]) -> Iterator[str]:
        """Chunks of OpenMetrics text for the given scrapes (counted from `start`, in
        ascending order), ending in `# EOF`: one family after another, each series' samples
        in time order."""
        rng = random.Random(self.seed)
        cycles = [
            (pair, f"app-{i + 1}:8000", SeriesCycle(pair, self.scrape_interval, rng))
            for pair in pairs(self.pair_count, self.seed)
            for i in range(self.instances)
        ]
        stamps = [str(self.start + s * self.scrape_interval) for s in scrapes]
        at = SeriesCycle.at

        def lines(name: str, cumulative: list[int]) -> str:
            return "".join(
                f"{name} {at(cumulative, s)} {ts}\n" for s, ts in zip(scrapes, stamps, strict=True)
            )

        yield "# TYPE django_http_requests counter\n"
        for pair, instance, cycle in cycles:
            base = dict(job=JOB, instance=instance, method=pair.method, endpoint=pair.endpoint)
            total = [sum(cycle.bins[b][k] for b in range(len(BOUNDS))) for k in range(CYCLE + 1)]
            ok = [total[k] - cycle.errors[k] - cycle.missing[k] for k in range(CYCLE + 1)]
            statuses = [("200", ok)]
            statuses += [("500", cycle.errors)] if pair.server_errors else []
            statuses += [("404", cycle.missing)] if pair.not_found else []
            for status, cumulative in statuses:
                labels = _labels(**base, status=status, tenant=pair.tenant)
                yield lines(f"django_http_requests_total{labels}", cumulative)
        yield "# TYPE django_http_request_duration_seconds histogram\n"
        for pair, instance, cycle in cycles:
            base = dict(
                job=JOB,
                instance=instance,
                method=pair.method,
                endpoint=pair.endpoint,
                tenant=pair.tenant,
            )
            running = [0] * (CYCLE + 1)
            seconds = [0.0] * (CYCLE + 1)
            for b, bound in enumerate(BOUNDS):
                running = [running[k] + cycle.bins[b][k] for k in range(CYCLE + 1)]
                seconds = [
                    seconds[k] + cycle.bins[b][k] * _BIN_SECONDS[b] for k in range(CYCLE + 1)
                ]
                labels = _labels(**base, le=bound)
                yield lines(f"django_http_request_duration_seconds_bucket{labels}", running)
            yield lines(f"django_http_request_duration_seconds_count{_labels(**base)}", running)
            name = f"django_http_request_duration_seconds_sum{_labels(**base)}"
            yield "".join(
                f"{name} {(s // CYCLE) * seconds[CYCLE] + seconds[s % CYCLE]:.3f} {ts}\n"
                for s, ts in zip(scrapes, stamps, strict=True)
            )
        yield "# TYPE django_http_slow_requests counter\n"
        for pair, instance, cycle in cycles:
            labels = _labels(
                job=JOB,
                instance=instance,
                method=pair.method,
                endpoint=pair.endpoint,
                tenant=pair.tenant,
            )
            slow = [
                sum(cycle.bins[b][k] for b in range(_FIRST_SLOW_BIN, len(BOUNDS)))
                for k in range(CYCLE + 1)
            ]
            yield lines(f"django_http_slow_requests_total{labels}", slow)
        yield "# TYPE django_http_exceptions counter\n"
        for pair, instance, cycle in cycles:
            if pair.server_errors:
                labels = _labels(
                    job=JOB,
                    instance=instance,
                    method=pair.method,
                    endpoint=pair.endpoint,
                    tenant=pair.tenant,
                    exception=EXCEPTION,
                )
                yield lines(f"django_http_exceptions_total{labels}", cycle.errors)
        yield "# EOF\n"
