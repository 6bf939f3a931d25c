"""node_network_{receive,transmit}_*_total: /proc/net/dev's columns, under the names
node_exporter gives them (its netlink figures folded back into these same columns)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from prometheus_client.core import CounterMetricFamily, Metric

from . import procfs
from .procfs import read

_RECEIVE = ["bytes", "packets", "errs", "drop", "fifo", "frame", "compressed", "multicast"]
_TRANSMIT = ["bytes", "packets", "errs", "drop", "fifo", "colls", "carrier", "compressed"]
STATISTICS = [f"receive_{c}" for c in _RECEIVE] + [f"transmit_{c}" for c in _TRANSMIT]


def collect(devices_exclude: re.Pattern) -> Iterable[Metric]:
    families = [
        CounterMetricFamily(
            f"node_network_{statistic}",
            f"Network device statistic {statistic}.",
            labels=["device"],
        )
        for statistic in STATISTICS
    ]
    for line in read(procfs.PROC / "net/dev").splitlines()[2:]:  # two header lines
        device, _, columns = line.partition(":")
        device = device.strip()
        if devices_exclude.search(device):
            continue
        for family, column in zip(families, columns.split(), strict=True):
            family.add_metric([device], float(column))
    return families
