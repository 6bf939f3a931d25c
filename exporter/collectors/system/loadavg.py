"""node_load1, node_load5, node_load15, from <procfs>/loadavg as node_exporter reads them."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric

from . import procfs


def collect() -> Iterable[Metric]:
    averages = procfs.read(procfs.PROC / "loadavg").split()[:3]
    for minutes, value in zip((1, 5, 15), averages, strict=True):
        yield GaugeMetricFamily(f"node_load{minutes}", f"{minutes}m load average.", float(value))
