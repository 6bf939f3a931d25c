"""node_cpu_seconds_total per CPU and mode, through psutil (the same /proc/stat columns)."""

from __future__ import annotations

from collections.abc import Iterable

import psutil
from prometheus_client.core import CounterMetricFamily, Metric

# psutil's names for /proc/stat's columns, mapped to node_exporter's `mode` values; guest
# time is already inside user and nice, and node_exporter reports it on another metric.
_MODES = {
    "user": "user",
    "nice": "nice",
    "system": "system",
    "idle": "idle",
    "iowait": "iowait",
    "irq": "irq",
    "softirq": "softirq",
    "steal": "steal",
}


def collect() -> Iterable[Metric]:
    family = CounterMetricFamily(
        "node_cpu_seconds_total", "Seconds the CPUs spent in each mode.", labels=["cpu", "mode"]
    )
    for cpu, times in enumerate(psutil.cpu_times(percpu=True)):
        for field, mode in _MODES.items():
            if hasattr(times, field):
                family.add_metric([str(cpu), mode], getattr(times, field))
    yield family
