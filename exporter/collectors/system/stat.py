"""/proc/stat's totals: interrupts, context switches, forks, boot time, runnable and
blocked processes (node_exporter's stat collector)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from . import procfs
from .procfs import read

# /proc/stat line -> (metric, help, counter?)
_LINES = {
    "intr": ("node_intr_total", "Total number of interrupts serviced.", True),
    "ctxt": ("node_context_switches_total", "Total number of context switches.", True),
    "processes": ("node_forks_total", "Total number of forks.", True),
    "btime": ("node_boot_time_seconds", "Node boot time, in unixtime.", False),
    "procs_running": ("node_procs_running", "Number of processes in runnable state.", False),
    "procs_blocked": (
        "node_procs_blocked",
        "Number of processes blocked waiting for I/O to complete.",
        False,
    ),
}


def collect() -> Iterable[Metric]:
    for line in read(procfs.PROC / "stat").splitlines():
        key, _, rest = line.partition(" ")
        if key not in _LINES:
            continue
        name, help_, counter = _LINES[key]
        value = float(rest.split()[0])  # intr: the total, then one column per interrupt
        if counter:
            yield CounterMetricFamily(name.removesuffix("_total"), help_, value=value)
        else:
            yield GaugeMetricFamily(name, help_, value=value)
