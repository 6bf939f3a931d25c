"""node_memory_*: every field of /proc/meminfo, named as node_exporter's meminfo names them."""

from __future__ import annotations

import re
from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric

from . import procfs
from .procfs import read

_PARENS = re.compile(r"\((.*)\)")  # Active(anon) -> Active_anon


def collect() -> Iterable[Metric]:
    for line in read(procfs.PROC / "meminfo").splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        key = _PARENS.sub(r"_\1", parts[0].rstrip(":"))
        value = float(parts[1])
        if len(parts) == 3:  # the only unit the kernel writes is kB
            value *= 1024
            key += "_bytes"
        yield GaugeMetricFamily(
            f"node_memory_{key}", f"Memory information field {key}.", value=value
        )
