"""A real process that records requests into prometheus_client's multiprocess files, either
through prometheus_client's public API or through the middleware's MmapRequestSeries.

    python -m tests.django_middleware.multiprocess.writer_process public|series DIR

It records in the parent, makes enough other series that the files grow, forks a child that records through the very same series objects,
records from several threads at once, and prints {"writer", "parent", "child"} as JSON.
"""

from __future__ import annotations

import json
import os
import sys
import threading

TENANTS = ("acme", "globex")
# Dyadic values only, so that sums are exact in any order; 0.5 and 1.0 sit on bucket bounds
# (counted in them: le is inclusive), 16 is past the last bound (+Inf only).
DURATIONS = (0.0078125, 0.0625, 0.5, 1.0, 3.0, 16.0)
THREADS = 4
PER_THREAD = 500
GROWN = 600  # series made after the first ones: past prometheus_client's first 1 MiB


def histogram_file(directory: str) -> str:
    return os.path.join(directory, f"histogram_{os.getpid()}.db")


def observed(tenant_index: int) -> list[float]:
    """Every duration recorded for a tenant, by the parent and the child together."""
    once = list(DURATIONS) * (tenant_index + 1)  # as record_all does
    threads = [DURATIONS[i % len(DURATIONS)] for i in range(PER_THREAD)] * THREADS
    return once * 3 + (threads if tenant_index == 0 else [])


def record_all(series_by_tenant: dict, exemplar: dict | None = None) -> None:
    for index, tenant in enumerate(TENANTS):
        for _ in range(index + 1):
            for seconds in DURATIONS:
                series_by_tenant[tenant].record(seconds, exemplar)


def main(writer: str, directory: str) -> None:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    from prometheus_client import CollectorRegistry

    from django_middleware.conf import DEFAULT_BUCKETS
    from django_middleware.metrics import HttpMetrics
    from django_middleware.request_series import RequestSeries, request_series

    # The middleware's own metric definitions, in a registry of their own.
    metrics = HttpMetrics(DEFAULT_BUCKETS, registry=CollectorRegistry())
    make = request_series if writer == "series" else RequestSeries
    series = {
        tenant: make(
            metrics.requests.labels("GET", "/api/", "200", tenant),
            metrics.duration.labels("GET", "/api/", tenant),
        )
        for tenant in TENANTS
    }
    record_all(series)
    # Enough new series that both files outgrow their first mapping while the series above
    # are bound to it: their later writes (parent, child, threads) must still land.
    for index in range(GROWN):
        make(
            metrics.requests.labels("GET", f"/grown/{index}/", "200", TENANTS[0]),
            metrics.duration.labels("GET", f"/grown/{index}/", TENANTS[0]),
        ).record(DURATIONS[index % len(DURATIONS)])
    assert os.path.getsize(histogram_file(directory)) > 1024 * 1024, "the file did not grow"

    child = os.fork()
    if child == 0:
        try:
            record_all(series, {"request_id": "r1", "tenant": "acme"})
        except BaseException:
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the child failed"

    record_all(series, {"request_id": "r2", "tenant": "acme"})

    def hammer() -> None:
        for i in range(PER_THREAD):
            series[TENANTS[0]].record(DURATIONS[i % len(DURATIONS)])

    threads = [threading.Thread(target=hammer) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    kind = type(series[TENANTS[0]]).__name__
    print(json.dumps({"writer": kind, "parent": os.getpid(), "child": child}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
