"""What increase() counted in real Prometheus servers, read where it extrapolates nothing.

The new-series hold's tests (tests/e2e/test_first_*.py) run two Prometheus servers at
different intervals, so at different scrape offsets, and check that each counts exactly
what was sent from a counter's first event on.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from local_services.prometheus import PrometheusServer
from local_services.waiting import wait_until

HOLD = 3  # seconds of --max-scrape-interval / MAX_SCRAPE_INTERVAL: covers both intervals
INTERVALS = ("1s", "2s")
WINDOW = "5m"  # from before a test sent anything: increase() counts the whole test


def counted(server, expr: str, window: str = WINDOW) -> float:
    """sum(increase(expr[window])), each series' increase taken at its latest sample: there
    Prometheus extrapolates neither end (a series that starts at 0 is not extended back).
    The latest sample, not the latest scrape: a scrape that just failed changes nothing."""
    total = 0.0
    for series in server.query(f"{expr}[{window}]"):
        at = float(series["values"][-1][0])
        labels = {k: v for k, v in series["metric"].items() if k != "__name__"}
        for found in server.query(f"increase({expr}[{window}])", at=at):
            if found["metric"] == labels:
                total += float(found["value"][1])
    return round(total, 6)


def two_prometheus(workdir: Path, django: Iterable[str], exporter: Iterable[str]) -> list:
    """Unstarted Prometheus servers, one per interval in INTERVALS, without rules."""
    django, exporter = list(django), list(exporter)
    return [
        PrometheusServer(workdir / f"prometheus-{i}", django, exporter, [], interval=i)
        for i in INTERVALS
    ]


def wait_scraping(servers: Iterable[PrometheusServer], targets: int, job: str = "") -> None:
    """Until every server has scraped each of its `targets` (of `job`, else of any job)
    successfully a few times."""
    selector = f'{{job="{job}"}}' if job else ""
    for server in servers:
        server.wait_until(
            lambda s=server: s.value(f"count(sum_over_time(up{selector}[1m]) > 2)") == targets,
            what=f"{targets} targets scraped a few times through {server.interval}",
        )


def assert_counted(
    servers: Iterable[PrometheusServer], expected: Mapping[str, float], hold: float = HOLD
) -> None:
    """Each server's increase() of each expression reaches what was sent, and stays there
    once every held series has been released (nothing counted twice, nothing late)."""
    servers = list(servers)
    for server in servers:
        for expr, sent in expected.items():
            wait_until(
                lambda s=server, e=expr, n=sent: counted(s, e) == n,
                30,
                ignore=(RuntimeError, ValueError),
                what=f"{expr} counted {sent} times through {server.interval}",
                detail=lambda s=server, e=expr: f"counted {counted(s, e)}\n" + _samples(s, e),
            )
    time.sleep(2 * hold)
    for server in servers:
        for expr, sent in expected.items():
            assert counted(server, expr) == sent, (server.interval, expr)


def _samples(server, expr: str) -> str:
    """What a failed wait shows: each series' stored samples (value@unix time)."""
    return "\n".join(
        f"{series['metric']}: " + " ".join(f"{v}@{t:.1f}" for t, v in series["values"])
        for series in server.query(f"{expr}[{WINDOW}]")
    )
