"""node_filefd_allocated and node_filefd_maximum, from /proc/sys/fs/file-nr."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric

from . import procfs
from .procfs import read


def collect() -> Iterable[Metric]:
    allocated, _unused, maximum = read(procfs.PROC / "sys/fs/file-nr").split()
    for name, value in (("allocated", allocated), ("maximum", maximum)):
        yield GaugeMetricFamily(
            f"node_filefd_{name}", f"File descriptor statistics: {name}.", value=float(value)
        )
