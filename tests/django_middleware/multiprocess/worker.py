"""Real processes for the multiprocess tests: workers that write prometheus_client's files, and
a merger that plays gunicorn's master (child_exit).

    python -m tests.django_middleware.multiprocess.worker dead DIR FIRST COUNT
        fork COUNT workers (numbered FIRST...), each writes its metrics and exits; prints pids
    python -m tests.django_middleware.multiprocess.worker live DIR NUMBER [--as-pid PID]
        write worker NUMBER's metrics, print the pid, then count a request for each line on
        stdin (printing "ok") until stdin closes; --as-pid writes files named for PID, a
        request for tenant "first" before the rest
    python -m tests.django_middleware.multiprocess.worker merge DIR PID...
        mark_process_dead(PID) for each, printing "merged PID" after each; --claims-kept N
        keeps N merges in the lock file's record of claims
"""

from __future__ import annotations

import argparse
import os
import sys
import time

TENANTS = ("acme", 'quote"back\\slash\nnewline', "zeta")
BUCKETS = (0.01, 0.1, 1.0)
GAUGE_MODES = (
    "all",
    "liveall",
    "sum",
    "livesum",
    "max",
    "livemax",
    "min",
    "livemin",
    "mostrecent",
    "livemostrecent",
)


def requests(number: int, tenant_index: int) -> int:
    """How many requests worker `number` counts for a tenant (the tests compute totals)."""
    return number * 3 + tenant_index + 1


def durations(number: int) -> list[float]:
    # Powers of two only, so sums are exact whatever the order of addition.
    return [0.0078125 * (number % 4 + 1), 0.0625, 0.5 + number, 2.0]


def gauge_value(number: int) -> float:
    return float((number * 7) % 11 + number / 64)  # exact in binary, so sums are too


def write_metrics(number: int, series: int = 0) -> None:
    """Worker `number`'s metrics; `series` extra counter series make files as big as wanted."""
    from prometheus_client import Counter, Gauge, Histogram, Summary

    counter = Counter("app_requests", "Requests.", ["tenant"])
    histogram = Histogram("app_duration_seconds", "Duration.", ["tenant"], buckets=BUCKETS)
    summary = Summary("app_payload_bytes", "Payload sizes.")
    for index, tenant in enumerate(TENANTS):
        counter.labels(tenant).inc(requests(number, index))
        for value in durations(number):
            histogram.labels(tenant).observe(value)
    summary.observe(100 * number)
    filler = Counter("app_filler", "Series that make the files big.", ["n"])
    for n in range(series):
        filler.labels(str(n)).inc()
    for mode in GAUGE_MODES:
        Gauge(f"app_gauge_{mode}", f"Gauge in mode {mode}.", multiprocess_mode=mode).set(
            gauge_value(number)
        )


def dead(directory: str, first: int, count: int, series: int) -> None:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    import prometheus_client  # noqa: F401 - imported once, before the forks

    pids = []
    for number in range(first, first + count):
        pid = os.fork()
        if pid == 0:
            try:
                write_metrics(number, series)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)  # one after another, so mostrecent gauges have a known winner
        pids.append(pid)
        time.sleep(0.002)  # distinct timestamps for the mostrecent gauges
    print(" ".join(map(str, pids)), flush=True)


def live(directory: str, number: int, as_pid: int | None) -> None:
    """Each line on stdin counts one more request for a tenant named by the line."""
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    if as_pid is not None:  # a process that got a dead worker's pid again
        from prometheus_client import values

        values.ValueClass = values.MultiProcessValue(lambda: as_pid)
    from prometheus_client import Counter

    late = Counter("app_late", "Requests counted after the first scrape.", ["tenant"])
    if as_pid is not None:
        # Its first series is not the dead worker's first: a layout cached for the dead
        # worker's file would read this file's values from the wrong places.
        late.labels("first").inc()
    write_metrics(number)
    print(os.getpid(), flush=True)
    for line in sys.stdin:
        late.labels(line.strip()).inc()
        print("ok", flush=True)


def merge(directory: str, pids: list[int], claims_kept: int | None) -> None:
    from django_middleware.multiprocess import lock, mark_process_dead

    if claims_kept is not None:
        lock._CLAIMS_KEPT = claims_kept

    for pid in pids:
        mark_process_dead(pid, directory)
        print(f"merged {pid}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("dead")
    p.add_argument("directory")
    p.add_argument("first", type=int)
    p.add_argument("count", type=int)
    p.add_argument("--series", type=int, default=0)
    p = sub.add_parser("live")
    p.add_argument("directory")
    p.add_argument("number", type=int)
    p.add_argument("--as-pid", type=int)
    p = sub.add_parser("merge")
    p.add_argument("directory")
    p.add_argument("pids", type=int, nargs="*")
    p.add_argument("--claims-kept", type=int)
    args = parser.parse_args()
    if args.command == "dead":
        dead(args.directory, args.first, args.count, args.series)
    elif args.command == "live":
        live(args.directory, args.number, args.as_pid)
    else:
        merge(args.directory, args.pids, args.claims_kept)


if __name__ == "__main__":
    main()
