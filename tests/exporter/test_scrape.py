"""A scrape: every collector within the deadline; one that fails or hangs only fails itself."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily

from exporter.collectors.base import Collector
from exporter.credentials import mask_url
from exporter.scrape import Scraper
from exporter.server import landing_page
from local_services.exporter import ExporterProcess


def _threads(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("Threads")))


def test_hanging_collector_fails_alone_and_recovers(tmp_path_factory, redis_server):
    flags = ["--collectors", "system,redis", "--redis-url", redis_server.url]
    flags += ["--redis-timeout", "5", "--scrape-timeout", "0.5"]  # redis may outlast a scrape
    with ExporterProcess(tmp_path_factory.mktemp("scrape"), flags) as exporter:
        exporter.wait_for(lambda s: s.value("redis_up", addr=redis_server.addr) == 1)
        threads = _threads(exporter.process.pid)
        redis_server.process.signal(signal.SIGSTOP)
        try:
            for _ in range(5):
                started = time.monotonic()
                scrape = exporter.scrape()
                assert time.monotonic() - started < 1.0
                assert scrape.value("painel_exporter_collector_success", collector="redis") == 0
                assert scrape.value("painel_exporter_collector_success", collector="system") == 1
                assert scrape.value("node_boot_time_seconds") > 0
                assert scrape.value("painel_exporter_build_info", version="0.1.0") == 1
            # the stuck collector is waited on, not started again by every scrape
            assert _threads(exporter.process.pid) <= threads + 1
            assert "did not finish within 0.5s" in exporter.get("/").body
            # Prometheus's own timeout, when shorter, sets the deadline (less 0.1 s to send)
            shorter = exporter.get(
                "/metrics", headers={"X-Prometheus-Scrape-Timeout-Seconds": "0.3"}
            )
            assert shorter.status == 200 and "node_boot_time_seconds" in shorter.body
            assert "did not finish within 0.2s" in exporter.get("/").body
        finally:
            redis_server.process.signal(signal.SIGCONT)
        exporter.wait_for(
            lambda s: (
                s.value("painel_exporter_collector_success", collector="redis") == 1
                and s.value("redis_up", addr=redis_server.addr) == 1
            )
        )


class _Fine(Collector):
    name = "fine"

    def collect(self):
        yield GaugeMetricFamily("fine_value", "A value.", value=42)


class _Broken(Collector):
    name = "broken"
    url = "amqp://painel:qu3ue-Secret@broker:5672//"

    def __init__(self):
        self.target = mask_url(self.url)  # as every collector shows its target

    def collect(self):
        raise RuntimeError(f"cannot read the thing at {self.url}")


def test_failing_collector_reports_success_zero_and_the_rest_stays():
    scraper = Scraper([_Broken(), _Fine()], timeout=0.5)
    try:
        families = {f.name: f for f in scraper.scrape()}
    finally:
        scraper.close()
    assert families["fine_value"].samples[0].value == 42
    success = {
        s.labels["collector"]: s.value
        for s in families["painel_exporter_collector_success"].samples
    }
    assert success == {"broken": 0.0, "fine": 1.0}
    durations = families["painel_exporter_collector_duration_seconds"].samples
    assert {s.labels["collector"] for s in durations} == {"broken", "fine"}
    page = landing_page(scraper)
    assert "RuntimeError: cannot read the thing at amqp://painel:***@broker" in page
    assert "qu3ue-Secret" not in page
