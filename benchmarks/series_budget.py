"""Series an instance publishes: the README's formula against a count of a real /metrics.

    .venv/bin/python -m benchmarks.series_budget [--endpoints 100] [--tenants 2000] [--workers 4]

For each set of settings, `--workers` forked processes share one multiprocess directory, as
gunicorn's workers do, and each records one request for every (endpoint, tenant) pair in its
own shuffled order, through painel's own code: the tenant cap shared through the directory
(django_middleware/multiprocess/admitted.py), HttpMetrics and the multiprocess writer. The
directory is then read by painel's MultiProcessCollector as /metrics reads it, and the series
(sample lines) of the request metrics are counted and compared with the formula
(README, "Series budget"). The requests counted are checked against the requests made.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
FEWER_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5)  # keeps 0.5 s, the slow threshold and SLO
SLOW_THRESHOLD = 0.5
FAMILIES = (
    "django_http_requests",
    "django_http_request_duration_seconds",
    "django_http_slow_requests",
    "django_http_tenant_request_duration_seconds",
)


@dataclass(frozen=True)
class Settings:
    name: str
    max_tenants: int
    tenant_latency: str
    buckets: tuple[float, ...]


SETTINGS = (
    Settings("default", 200, "per_endpoint", DEFAULT_BUCKETS),
    Settings("budget: per_tenant, 6 buckets", 2000, "per_tenant", FEWER_BUCKETS),
    Settings("budget: latency off", 2000, "off", DEFAULT_BUCKETS),
)


def formula(settings: Settings, endpoints: int, tenants: int, statuses: int) -> dict[str, int]:
    """The README's formula: routes R, tenant labels T (admitted, plus <other> past the cap),
    statuses S per (route, tenant), bucket bounds B (each histogram series: B + 1 buckets,
    _sum and _count)."""
    labels = min(tenants, settings.max_tenants) + (tenants > settings.max_tenants)
    per_histogram = len(settings.buckets) + 3
    r, t = endpoints, labels
    out = {"django_http_requests": r * t * statuses}
    if settings.tenant_latency == "per_endpoint":
        out["django_http_request_duration_seconds"] = r * t * per_histogram
        out["django_http_slow_requests"] = r * t
    else:
        out["django_http_request_duration_seconds"] = r * per_histogram
        out["django_http_slow_requests"] = r
    if settings.tenant_latency == "per_tenant":
        out["django_http_tenant_request_duration_seconds"] = t * per_histogram
    return out


def work(settings: Settings, directory: Path, endpoints: int, tenants: int, seed: int) -> None:
    """One worker: every (endpoint, tenant) pair once per status, in its own order."""
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)  # where its values open files
    from django_middleware.labels import TENANT_MAX_LENGTH
    from django_middleware.metrics import HttpMetrics
    from django_middleware.multiprocess.admitted import SharedCappedValues

    metrics = HttpMetrics(settings.buckets, tenant_latency=settings.tenant_latency)
    cap = SharedCappedValues(settings.max_tenants, TENANT_MAX_LENGTH, str(directory))
    pairs = [(e, t) for e in range(endpoints) for t in range(tenants)]
    rng = random.Random(seed)
    rng.shuffle(pairs)
    for e, t in pairs:
        tenant = cap(f"tenant-{t:05d}")
        for status in STATUSES:
            key = ("GET", f"/api/v1/resource{e}/<int:pk>/", status, tenant)
            series = metrics.children.get(key) or metrics.add_children(key)
            seconds = rng.random() * 0.6
            series.record(seconds)
            if seconds > SLOW_THRESHOLD:
                metrics.slow_child(*key[:2], tenant).inc()


STATUSES = (200,)


def run(settings: Settings, endpoints: int, tenants: int, workers: int) -> None:
    directory = Path(tempfile.mkdtemp(prefix="painel-series-budget-"))
    try:
        started = time.monotonic()
        pids = []
        for seed in range(workers):
            pid = os.fork()
            if pid == 0:
                try:
                    work(settings, directory, endpoints, tenants, seed)
                finally:
                    os._exit(0)
            pids.append(pid)
        for pid in pids:
            _, status = os.waitpid(pid, 0)
            if status != 0:
                raise SystemExit(f"a worker failed (status {status})")
        recorded = time.monotonic() - started
        counted, requests, size = count(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)

    expected = formula(settings, endpoints, tenants, len(STATUSES))
    made = workers * endpoints * tenants * len(STATUSES)
    print(f"\n{settings.name}: MAX_TENANTS {settings.max_tenants}, TENANT_LATENCY "
          f"{settings.tenant_latency}, {len(settings.buckets)} bucket bounds")  # fmt: skip
    print(f"  {'family':46} {'formula':>10} {'measured':>10}")
    for family in FAMILIES:
        if expected.get(family) or counted.get(family):
            print(f"  {family:46} {expected.get(family, 0):>10,} {counted.get(family, 0):>10,}")
    total, measured = sum(expected.values()), sum(counted.values())
    print(f"  {'total':46} {total:>10,} {measured:>10,}  {'equal' if total == measured else 'DIFFER'}")  # fmt: skip
    print(f"  requests made {made:,}, counted {requests:,.0f}; directory {size / 1e6:,.0f} MB; "
          f"recorded in {recorded:.1f} s")  # fmt: skip


def count(directory: Path) -> tuple[dict[str, int], float, int]:
    """Series per family on /metrics as painel's collector renders the directory, the
    requests counted, and the directory's size."""
    from prometheus_client import CollectorRegistry

    from django_middleware.multiprocess import MultiProcessCollector, generate_latest

    registry = CollectorRegistry()
    MultiProcessCollector(registry, str(directory))
    text = generate_latest(registry).decode()
    counted: dict[str, int] = {}
    requests = 0.0
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        family = next((f for f in FAMILIES if name.removeprefix(f) in SUFFIXES), None)
        if family is not None:
            counted[family] = counted.get(family, 0) + 1
        if name == "django_http_requests_total":
            requests += float(line.rsplit(" ", 1)[1])
    size = sum(path.stat().st_size for path in directory.iterdir())
    return counted, requests, size


SUFFIXES = ("_total", "_bucket", "_sum", "_count")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--endpoints", type=int, default=100)
    parser.add_argument("--tenants", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    # Set before prometheus_client is first imported, so its values write files; each
    # worker points it at its run's directory.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.gettempdir()
    print(f"{args.endpoints} routes x {args.tenants} tenants x {args.workers} workers, "
          f"{len(STATUSES)} status per (route, tenant)")  # fmt: skip
    for settings in SETTINGS:
        run(settings, args.endpoints, args.tenants, args.workers)


if __name__ == "__main__":
    main()
