"""Bytes of PROMETHEUS_MULTIPROC_DIR per series, to size a tmpfs or emptyDir.

    .venv/bin/python -m benchmarks.metrics_directory_size [--series 1000]   # from the root

A fresh process fills an empty directory with N request counter series and N duration
histogram series (the default buckets) labelled as the middleware labels them, and prints
the bytes the files use per series: each worker's files hold every series that worker has
recorded, so the directory needs about workers x series x bytes per series (plus one file
of each type merged from the workers that have exited).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

_FILL = """
import os, sys
from prometheus_client import Counter, Histogram
requests = Counter("django_http_requests", "HTTP requests answered, by method, route, status code and tenant.", ("method", "endpoint", "status", "tenant"))
duration = Histogram("django_http_request_duration_seconds", "Time from the first middleware to the response, by method, route and tenant.", ("method", "endpoint", "tenant"))
kind, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    if kind == "counter":
        requests.labels("GET", "/api/v1/orders/<int:pk>/", "200", f"tenant-{i:05d}").inc()
    else:
        duration.labels("GET", "/api/v1/orders/<int:pk>/", f"tenant-{i:05d}").observe(0.1)
"""


def used_bytes(directory: str) -> int:
    """Bytes of the files in use (their header's count), what the space must hold."""
    total = 0
    for name in os.listdir(directory):
        with open(os.path.join(directory, name), "rb") as f:
            total += int.from_bytes(f.read(4), "little")
    return total


def measure(kind: str, series: int) -> float:
    with tempfile.TemporaryDirectory() as directory:
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": directory}
        subprocess.run([sys.executable, "-c", _FILL, kind, str(series)], env=env, check=True)
        return used_bytes(directory) / series


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1000)
    args = parser.parse_args()
    for kind in ("counter", "histogram"):
        print(f"{kind}: {measure(kind, args.series):,.0f} bytes per series ({args.series} series)")


if __name__ == "__main__":
    main()
