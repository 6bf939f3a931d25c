"""One scrape: every collector at once, each within the deadline, plus the self metrics.

node_exporter's shape: a collector that raises or overruns reports
painel_exporter_collector_success 0 and the rest of /metrics is served as usual. A
collector still busy from an earlier scrape is not started a second time; the new scrape
waits on the same run, so a hanging target holds one thread, not one per scrape.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from functools import partial

from prometheus_client.core import GaugeMetricFamily, Metric

from exporter.collectors.base import Collector
from exporter.credentials import scrub_known
from exporter.single_flight import SingleFlight
from painel import VERSION
from painel.new_series import NewSeriesHold

log = logging.getLogger("painel.exporter.scrape")


@dataclass(frozen=True)
class Result:
    """How a collector's latest scrape went; the landing page shows it."""

    success: bool
    duration: float
    error: str = ""
    finished_at: float = 0.0  # unix time


class Scraper:
    def __init__(
        self, collectors: Sequence[Collector], timeout: float, max_scrape_interval: float = 0.0
    ) -> None:
        self.collectors = list(collectors)
        self.timeout = timeout
        # Once here for every collector: a new series reads 0 until every Prometheus saw it.
        self._hold = NewSeriesHold(max_scrape_interval)
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, 2 * len(self.collectors)), thread_name_prefix="collect"
        )
        self._runs = SingleFlight(self._pool)
        self._lock = threading.Lock()
        self._last: dict[str, Result] = {}

    def last_results(self) -> dict[str, Result]:
        with self._lock:
            return dict(self._last)

    def scrape(self, timeout: float | None = None) -> list[Metric]:
        """Every collector's metrics, within `timeout` (at most --scrape-timeout)."""
        timeout = self.timeout if timeout is None else min(timeout, self.timeout)
        started = time.perf_counter()
        runs = {id(c): self._runs.run(id(c), partial(_collect, c)) for c in self.collectors}
        wait_futures(runs.values(), timeout=timeout)
        metrics: list[Metric] = []
        success = GaugeMetricFamily(
            "painel_exporter_collector_success",
            "1 when the collector's last scrape succeeded within the deadline, else 0.",
            labels=["collector"],
        )
        duration = GaugeMetricFamily(
            "painel_exporter_collector_duration_seconds",
            "How long the collector's last scrape took.",
            labels=["collector"],
        )
        for collector in self.collectors:
            result, families = self._outcome(collector, runs[id(collector)], started, timeout)
            metrics.extend(self._hold.apply(families) if collector.counts_own_events else families)
            success.add_metric([collector.name], 1.0 if result.success else 0.0)
            duration.add_metric([collector.name], result.duration)
        build_info = GaugeMetricFamily(
            "painel_exporter_build_info",
            "Always 1; the version of painel-exporter in a label.",
            labels=["version"],
        )
        build_info.add_metric([VERSION], 1.0)
        return [*metrics, success, duration, build_info]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _outcome(
        self, collector: Collector, run: Future, started: float, timeout: float
    ) -> tuple[Result, list[Metric]]:
        families: list[Metric] = []
        exc = run.exception() if run.done() else None
        now = time.time()
        if not run.done():
            elapsed = time.perf_counter() - started
            result = Result(False, elapsed, f"did not finish within {timeout:g}s", now)
        elif exc is not None:
            error = scrub_known(f"{type(exc).__name__}: {exc}")
            result = Result(False, time.perf_counter() - started, error, now)
        else:
            families, took = run.result()
            result = Result(True, took, "", now)
        with self._lock:
            previous = self._last.get(collector.name)
            self._last[collector.name] = result
        if not result.success and (previous is None or previous.error != result.error):
            # the traceback once per new error, not on every scrape
            log.warning("collector %s failed: %s", collector.name, result.error, exc_info=exc)
        elif result.success and previous is not None and not previous.success:
            log.info("collector %s recovered", collector.name)
        return result, families


def _collect(collector: Collector) -> tuple[list[Metric], float]:
    started = time.perf_counter()
    families = list(collector.collect())
    return families, time.perf_counter() - started


class OneScrape:
    """What one /metrics request encodes: a scrape with its deadline, then the extras.

    prometheus_client's encoders only call `collect()`, so a request-sized object lets
    each request carry its own deadline (Prometheus sends its scrape timeout).
    """

    def __init__(self, scraper: Scraper, extras: Iterable, timeout: float | None) -> None:
        self.scraper = scraper
        self.extras = extras
        self.timeout = timeout

    def collect(self) -> Iterable[Metric]:
        yield from self.scraper.scrape(self.timeout)
        for extra in self.extras:
            yield from extra.collect()
