"""What the multiprocess tests share: starting worker processes, scraping a directory with our
collector and with prometheus_client's, and the values a user should see."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client import generate_latest as stock_generate_latest
from prometheus_client.multiprocess import MultiProcessCollector as StockCollector
from prometheus_client.parser import text_string_to_metric_families

from django_middleware.multiprocess import MultiProcessCollector, generate_latest
from local_services.paths import REPO_ROOT

from . import worker

WORKER = [sys.executable, "-m", "tests.django_middleware.multiprocess.worker"]

# No process has it, whatever pid_max is: over Linux's PID_MAX_LIMIT (4194304).
NO_SUCH_PID = 5_000_000
# A file whose `used` length runs past its end.
DAMAGED_FILE = b"\xff\x00\x00\x7f" + b"\x01" * 60


def unreadable(stage: str) -> float:
    """This process's count of skipped files (the test process runs without multiprocess)."""
    return (
        REGISTRY.get_sample_value("painel_multiprocess_unreadable_files_total", {"stage": stage})
        or 0.0
    )


# Live gauges and per-process series depend on which files a crash left behind; the rest
# must be exact in every state.
STATE_DEPENDENT = ("app_gauge_live", "app_gauge_all")


def run_dead_workers(directory: Path, first: int, count: int, series: int = 0) -> list[int]:
    """Workers numbered first.. write their metrics and exit, one after the other."""
    out = subprocess.run(
        [*WORKER, "dead", str(directory), str(first), str(count), "--series", str(series)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return [int(pid) for pid in out.split()]


class LiveWorker:
    """A worker that has written its metrics and keeps running (its files stay live)."""

    def __init__(self, directory: Path, number: int, as_pid: int | None = None) -> None:
        argv = [*WORKER, "live", str(directory), str(number)]
        if as_pid is not None:
            argv += ["--as-pid", str(as_pid)]
        self.number = number
        self.proc = subprocess.Popen(
            argv, cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.pid = int(self.proc.stdout.readline())

    def count_late_request(self, tenant: str) -> None:
        self.proc.stdin.write(tenant + "\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "ok"

    def exit(self) -> int:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()
        return self.pid


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def families(text: str) -> set[tuple[str, str, str]]:
    return {(f.name, f.type, f.documentation) for f in text_string_to_metric_families(text)}


def scrape_ours_text(directory: Path) -> str:
    return _scrape_text(directory, MultiProcessCollector, generate_latest)


def scrape_ours(directory: Path) -> dict:
    return app_samples(parse(scrape_ours_text(directory)))


def scrape_stock_text(directory: Path) -> str:
    """What prometheus_client's own collector makes of the directory."""
    return _scrape_text(directory, StockCollector, stock_generate_latest)


def _scrape_text(directory: Path, collector, generate_latest) -> str:
    registry = CollectorRegistry()  # a fresh registry per scrape, as the views make
    collector(registry, str(directory))
    return generate_latest(registry).decode()


def scrape_stock(directory: Path) -> dict:
    return app_samples(parse(scrape_stock_text(directory)))


def app_samples(samples: dict) -> dict:
    return {key: value for key, value in samples.items() if key[0].startswith("app_")}


def without(samples: dict, prefixes: tuple[str, ...]) -> dict:
    return {key: value for key, value in samples.items() if not key[0].startswith(prefixes)}


def expected(present: dict[str, int], merged: list[int]) -> dict:
    """What a scrape must show.

    present: pid label -> worker number, for every worker whose own files are in the directory
    (running, or exited and not merged yet); merged: worker numbers merged, in merge order.
    Workers write in the order of their numbers (the mostrecent gauges rely on it).
    """
    everyone = [*present.values(), *merged]
    samples: dict = {}

    def put(name: str, value: float, **labels: str) -> None:
        samples[(name, frozenset(labels.items()))] = float(value)

    for index, tenant in enumerate(worker.TENANTS):
        put("app_requests_total", sum(worker.requests(n, index) for n in everyone), tenant=tenant)
        observed = [d for n in everyone for d in worker.durations(n)]
        for bound in worker.BUCKETS:
            put(
                "app_duration_seconds_bucket",
                sum(d <= bound for d in observed),
                tenant=tenant,
                le=str(bound),
            )
        put("app_duration_seconds_bucket", len(observed), tenant=tenant, le="+Inf")
        put("app_duration_seconds_count", len(observed), tenant=tenant)
        put("app_duration_seconds_sum", sum(observed), tenant=tenant)
    put("app_payload_bytes_count", len(everyone))
    put("app_payload_bytes_sum", sum(100 * n for n in everyone))

    value = worker.gauge_value
    live = list(present.values())
    for pid, number in present.items():
        put("app_gauge_all", value(number), pid=pid)
        put("app_gauge_liveall", value(number), pid=pid)
    if merged:
        put("app_gauge_all", value(merged[-1]), pid="merged")
    for mode, numbers in (("", everyone), ("live", live)):
        if not numbers:
            continue
        put(f"app_gauge_{mode}sum", sum(value(n) for n in numbers))
        put(f"app_gauge_{mode}max", max(value(n) for n in numbers))
        put(f"app_gauge_{mode}min", min(value(n) for n in numbers))
        put(f"app_gauge_{mode}mostrecent", value(max(numbers)))
    return samples
