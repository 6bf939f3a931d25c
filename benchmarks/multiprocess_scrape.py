"""Scrape time of multiprocess /metrics: ours against prometheus_client's MultiProcessCollector.

    .venv/bin/python -m benchmarks.multiprocess_scrape [--pairs 2000] [--live 4]   # from the root

Every worker is a real process (forked) that writes the app's metrics for `--pairs`
endpoint-tenant pairs: django_http_requests_total and the 11-bucket
django_http_request_duration_seconds, about 15 exposition lines per pair. `--live` workers
stay alive; recycled ones exit, as under gunicorn's max_requests, and gunicorn's child_exit
runs for them: prometheus_client's mark_process_dead in one directory (it keeps their files),
ours in another (it merges them). Both directories then hold the same counts; each is scraped
by its collector, and ours is also read by prometheus_client to show it still can.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

# What Prometheus 2 sends when it scrapes: OpenMetrics first.
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
# The benchmarks' own Django project (benchmarks/site), which gunicorn imports by name:
# painel's middleware and /metrics view, nothing else.
SITE = "benchmarks.site"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def write_worker_metrics(pairs: int, seed: int) -> None:
    from prometheus_client import Counter, Histogram

    requests = Counter(
        "django_http_requests", "Requests.", ["method", "endpoint", "status", "tenant"]
    )
    duration = Histogram(
        "django_http_request_duration_seconds",
        "Latency.",
        ["method", "endpoint", "tenant"],
        buckets=BUCKETS,
    )
    for i in range(pairs):
        endpoint, tenant = f"/api/v1/resource{i % 50}/<int:pk>/", f"tenant-{i // 50}"
        requests.labels("GET", endpoint, "200", tenant).inc()
        duration.labels("GET", endpoint, tenant).observe(((i + seed) % 97) / 50)


def fork_worker(directory: Path, pairs: int, seed: int, stay_alive: bool) -> tuple[int, int]:
    """(pid, fd) once the worker has written its files; it then exits, or stays alive until
    fd is closed."""
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    hold_read, hold_write = os.pipe()
    ready_read, ready_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(hold_write)
        os.close(ready_read)
        write_worker_metrics(pairs, seed)
        os.write(ready_write, b"r")
        if stay_alive:
            os.read(hold_read, 1)
        os._exit(0)
    os.close(hold_read)
    os.close(ready_write)
    os.read(ready_read, 1)
    os.close(ready_read)
    if not stay_alive:
        os.waitpid(pid, 0)
    return pid, hold_write


def copy_files_of(pid: int, source: Path, target: Path) -> None:
    for path in source.glob(f"*_{pid}.db"):
        shutil.copyfile(path, target / path.name)


def timed(scrape, runs: int) -> tuple[float, float, bytes]:
    """Median and best seconds of `runs` scrapes, and the last output."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        output = scrape()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), output


def scrape_stock(directory: Path):
    from prometheus_client import generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    return scraper(directory, MultiProcessCollector, generate_latest)


def scrape_ours(directory: Path):
    from django_middleware.multiprocess import MultiProcessCollector, generate_latest

    # With the new-series hold's look-up per series, as the views scrape; a hold of 1 µs is
    # over by the next scrape, so the values compare equal to prometheus_client's.
    held = functools.partial(MultiProcessCollector, max_scrape_interval=1e-6)
    return scraper(directory, held, generate_latest)


def scraper(directory: Path, collector, generate_latest):
    from prometheus_client import CollectorRegistry

    def scrape() -> bytes:
        registry = CollectorRegistry()  # a fresh registry per scrape, as the views do
        collector(registry, str(directory))
        return generate_latest(registry)

    return scrape


def first_scrape_in_a_new_worker(scrape) -> float:
    """Seconds of the first scrape in a process forked now, as gunicorn forks a new worker
    from its master (which has just run the merges)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        start = time.perf_counter()
        scrape()
        os.write(write_end, repr(time.perf_counter() - start).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as result:
        seconds = float(result.read())
    os.waitpid(pid, 0)
    return seconds


def first_scrape_after_a_merge(scrape, merge) -> float:
    """Seconds of a warm worker's first scrape after `merge` ran here, as in gunicorn's master:
    the worker's caches predate the merge."""
    ready_read, ready_write = os.pipe()
    go_read, go_write = os.pipe()
    result_read, result_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        scrape()  # a worker that has served scrapes before
        os.write(ready_write, b"r")
        os.read(go_read, 1)
        start = time.perf_counter()
        scrape()
        os.write(result_write, repr(time.perf_counter() - start).encode())
        os._exit(0)
    for fd in (ready_write, go_read, result_write):
        os.close(fd)
    os.read(ready_read, 1)
    merge()
    os.write(go_write, b"g")
    with os.fdopen(result_read) as result:
        seconds = float(result.read())
    os.waitpid(pid, 0)
    for fd in (ready_read, go_write):
        os.close(fd)
    return seconds


def samples(text: bytes) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }


def agree(*outputs: bytes) -> bool:
    """Same series and values (sums of floats may differ in the last bit: addition order)."""
    first, *others = [samples(output) for output in outputs]
    return all(
        other.keys() == first.keys()
        and all(math.isclose(first[k], other[k], rel_tol=1e-9) for k in first)
        for other in others
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--live", type=int, default=4)
    parser.add_argument("--recycled", type=int, nargs="+", default=[0, 40, 100])
    parser.add_argument("--runs", type=int, default=10, help="scrapes per measurement (ours)")
    parser.add_argument(
        "--http",
        action="store_true",
        help="also GET /metrics of the test project under gunicorn, at the last row's files",
    )
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="painel-mp-bench-"))
    # fresh_dir keeps the live workers' files alone: ours on it, measured in turn with ours on
    # ours_dir, gives the cost of the recycled workers on a machine others share.
    stock_dir, ours_dir, fresh_dir = base / "stock", base / "ours", base / "fresh"
    for directory in (stock_dir, ours_dir, fresh_dir):
        directory.mkdir()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(stock_dir)
    import prometheus_client.multiprocess as stock  # noqa: F401 - before the forks

    from django_middleware import multiprocess as ours

    live_fds = []
    for n in range(args.live):
        pid, fd = fork_worker(stock_dir, args.pairs, seed=n, stay_alive=True)
        live_fds.append(fd)
        copy_files_of(pid, stock_dir, ours_dir)
        copy_files_of(pid, stock_dir, fresh_dir)

    print(
        f"{args.live} live workers, {args.pairs} endpoint-tenant pairs each "
        f"(counter + 11-bucket histogram); median and best of {args.runs} scrapes for ours, "
        "median of 3 for stock; 'after merge' is a warm worker's first scrape (ms) after the "
        "master merged one more dead worker; 'new worker' is the first scrape (ms) of a process "
        "forked after the merges, as gunicorn forks workers; 'vs 0 recycled' is ours' best against "
        "its best on the live workers' files alone, scraped in turn"
    )
    header = (
        f"{'recycled':>8} {'lines':>7} {'stock ms':>9} {'ours ms':>8} {'best ms':>8} "
        f"{'after merge':>11} {'new worker':>10} {'stock/ours':>10} {'vs 0 recycled':>13} {'stock reads ours ms':>20} "
        f"{'merge ms':>9}"
    )
    print(header)
    recycled, merge_times = 0, []

    def recycle_one() -> None:
        """A worker writes its metrics and exits; child_exit runs in both directories."""
        nonlocal recycled
        pid, fd = fork_worker(stock_dir, args.pairs, seed=100 + recycled, stay_alive=False)
        os.close(fd)
        stock.mark_process_dead(pid, str(stock_dir))
        copy_files_of(pid, stock_dir, ours_dir)
        start = time.perf_counter()
        ours.mark_process_dead(pid, str(ours_dir))
        merge_times.append(time.perf_counter() - start)
        recycled += 1

    fresh_scrape = scrape_ours(fresh_dir)
    fresh_scrape()  # its caches are warm from here on
    for target in sorted(args.recycled):
        ours_scrape = scrape_ours(ours_dir)
        after_merge = None
        while recycled < target:
            if recycled == target - 1:  # the last one with a warm worker watching
                after_merge = first_scrape_after_a_merge(ours_scrape, recycle_one)
            else:
                recycle_one()
        first = first_scrape_in_a_new_worker(ours_scrape)
        ours_times, fresh_times = [], []
        for _ in range(args.runs):
            ours_times.append(timed(ours_scrape, 1)[0])
            fresh_times.append(timed(fresh_scrape, 1)[0])
        _, _, ours_out = timed(ours_scrape, 1)
        ours_time, best = statistics.median(ours_times), min(ours_times)
        stock_time, _, stock_out = timed(scrape_stock(stock_dir), 3)
        stock_on_ours, _, stock_on_ours_out = timed(scrape_stock(ours_dir), 3)
        if not agree(ours_out, stock_out, stock_on_ours_out):
            sys.exit("the scrapes disagree: this benchmark's numbers would mean nothing")
        merge = f"{statistics.median(merge_times) * 1000:9.0f}" if merge_times else f"{'-':>9}"
        after = f"{after_merge * 1000:11.0f}" if after_merge is not None else f"{'-':>11}"
        lines = ours_out.count(b"\n")
        print(
            f"{recycled:>8} {lines:>7} {stock_time * 1000:>9.0f} "
            f"{ours_time * 1000:>8.1f} {best * 1000:>8.1f} {after} {first * 1000:>10.0f} "
            f"{stock_time / ours_time:>9.1f}x {best / min(fresh_times):>12.2f}x "
            f"{stock_on_ours * 1000:>20.0f} {merge}"
        )
    if args.http:
        scrape_through_gunicorn(base, ours_dir, args.live, args.runs)
    for fd in live_fds:
        os.close(fd)
    for _ in live_fds:
        os.wait()
    shutil.rmtree(base)


def scrape_through_gunicorn(base: Path, ours_dir: Path, workers: int, runs: int) -> None:
    """GET /metrics of the test project under gunicorn, its directory holding ours_dir's files
    (the live workers' and the merged ones) beside its own workers' files."""
    import httpx

    from local_services.gunicorn import GunicornServer

    settings = {"DJANGO_SETTINGS_MODULE": f"{SITE}.settings"}
    server = GunicornServer(
        base / "gunicorn", f"{SITE}.wsgi:application", workers=workers, env=settings
    )
    server.start()
    try:
        for path in ours_dir.glob("*.db"):
            shutil.copyfile(path, server.multiproc_dir / path.name)
        times = []
        with httpx.Client(base_url=server.url, timeout=60) as client:
            for _ in range(workers * 3 + runs):
                start = time.perf_counter()
                response = client.get("/metrics", headers={"Accept": PROMETHEUS_ACCEPT})
                times.append(time.perf_counter() - start)
                response.raise_for_status()
        # Each gunicorn worker builds its caches on its first scrape: show those apart.
        first, warm = times[: workers * 3], times[workers * 3 :]
        print(
            f"through gunicorn ({workers} workers) and the Django view, {len(warm)} GET /metrics "
            "as Prometheus asks for it (OpenMetrics) "
            f"after {len(first)} that warm the workers up: median "
            f"{statistics.median(warm) * 1000:.1f} ms, best {min(warm) * 1000:.1f} ms "
            f"(warm-up requests: slowest {max(first) * 1000:.0f} ms)"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
