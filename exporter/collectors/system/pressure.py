"""node_pressure_*: the kernel's pressure stall information, where the kernel has PSI
(Linux 4.20+, CONFIG_PSI, not switched off with psi=0)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import CounterMetricFamily, Metric

from . import procfs
from .procfs import read_optional

# (resource, line) -> (metric, help); node_exporter leaves out cpu's "full" line
_STALLS = {
    ("cpu", "some"): (
        "node_pressure_cpu_waiting_seconds",
        "Total time in seconds that processes have waited for CPU time",
    ),
    ("io", "some"): (
        "node_pressure_io_waiting_seconds",
        "Total time in seconds that processes have waited due to IO congestion",
    ),
    ("io", "full"): (
        "node_pressure_io_stalled_seconds",
        "Total time in seconds no process could make progress due to IO congestion",
    ),
    ("memory", "some"): (
        "node_pressure_memory_waiting_seconds",
        "Total time in seconds that processes have waited for memory",
    ),
    ("memory", "full"): (
        "node_pressure_memory_stalled_seconds",
        "Total time in seconds no process could make progress due to memory congestion",
    ),
}


def collect() -> Iterable[Metric]:
    for resource in ("cpu", "io", "memory"):
        text = read_optional(procfs.PROC / "pressure" / resource)
        for line in (text or "").splitlines():
            kind, *fields = line.split()
            if (resource, kind) not in _STALLS:
                continue
            total_us = dict(f.split("=", 1) for f in fields)["total"]
            name, help_ = _STALLS[resource, kind]
            yield CounterMetricFamily(name, help_, value=float(total_us) / 1e6)
