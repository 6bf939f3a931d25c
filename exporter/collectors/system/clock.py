"""node_time_seconds, the time zone offset and the clock sources (node_exporter's time
collector; a module named time would read as the standard library's)."""

from __future__ import annotations

import time
from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric

from . import procfs
from .procfs import read_optional


def collect() -> Iterable[Metric]:
    now = time.time()
    yield GaugeMetricFamily(
        "node_time_seconds", "System time in seconds since epoch (1970).", value=now
    )
    local = time.localtime(now)
    zone = GaugeMetricFamily(
        "node_time_zone_offset_seconds",
        "System time zone offset in seconds.",
        labels=["time_zone"],
    )
    zone.add_metric([local.tm_zone], float(local.tm_gmtoff))
    yield zone
    yield from _clocksources()


def _clocksources() -> Iterable[Metric]:
    labels = ["device", "clocksource"]
    available = GaugeMetricFamily(
        "node_time_clocksource_available_info",
        "Available clocksources read from '/sys/devices/system/clocksource'.",
        labels=labels,
    )
    current = GaugeMetricFamily(
        "node_time_clocksource_current_info",
        "Current clocksource read from '/sys/devices/system/clocksource'.",
        labels=labels,
    )
    clocksources = procfs.SYS / "devices/system/clocksource"
    devices = sorted(clocksources.glob("clocksource[0-9]*")) if clocksources.is_dir() else []
    for index, device in enumerate(devices):  # node_exporter labels them by position
        for source in (read_optional(device / "available_clocksource") or "").split():
            available.add_metric([str(index), source], 1.0)
        source = (read_optional(device / "current_clocksource") or "").strip()
        if source:
            current.add_metric([str(index), source], 1.0)
    yield available
    yield current
