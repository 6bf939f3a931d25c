"""/metrics latency: painel-exporter against Debian's prometheus-node-exporter, side by side.

Run by hand from the repository root: .venv/bin/python -m benchmarks.exporter_scrape
[--requests 300].
Both run on free local ports at the same time and are scraped alternately, one new
connection per scrape as Prometheus does after an idle interval, so both see the same
machine load. painel-exporter runs the system and redis collectors against a real
redis-server; node_exporter runs its default collectors. Prints the median and p90 of each
and the ratio painel / node_exporter (below 1: painel is faster).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from local_services.exporter import ExporterProcess
from local_services.node_exporter import NodeExporterProcess, node_exporter_binary
from local_services.redis import RedisServer


def scrape_seconds(url: str) -> tuple[float, int]:
    started = time.perf_counter()
    with urllib.request.urlopen(url + "/metrics", timeout=10) as answer:
        body = answer.read()
    return time.perf_counter() - started, len(body)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    binary, missing = node_exporter_binary()
    if binary is None:
        print(f"cannot compare: {missing}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="painel-bench-") as tmp:
        workdir = Path(tmp)
        redis = RedisServer(workdir / "redis").start()
        try:
            flags = ["--collectors", "system,redis", "--redis-url", redis.url]
            with (
                ExporterProcess(workdir, flags) as ours,
                NodeExporterProcess(binary, workdir, all_collectors=True) as theirs,
            ):
                peers = {"painel-exporter": ours.url, "node_exporter": theirs.url}
                series = {
                    "painel-exporter": len(ours.scrape()),
                    "node_exporter": len(theirs.scrape()),
                }
                timings: dict[str, list[float]] = {name: [] for name in peers}
                for _ in range(10):  # warm-up: imports, caches, first connections
                    for url in peers.values():
                        scrape_seconds(url)
                for _ in range(args.requests):
                    for name, url in peers.items():
                        timings[name].append(scrape_seconds(url)[0])
        finally:
            redis.stop()
    medians = {name: statistics.median(t) for name, t in timings.items()}
    print(f"{args.requests} scrapes each, alternating, one connection per scrape")
    for name, values in timings.items():
        p90 = statistics.quantiles(values, n=10)[-1]
        print(
            f"  {name:16s} median {medians[name] * 1000:6.2f} ms   p90 {p90 * 1000:6.2f} ms"
            f"   {series[name]} series"
        )
    ratio = medians["painel-exporter"] / medians["node_exporter"]
    print(f"ratio painel-exporter / node_exporter (median latency): {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
