"""node_nf_conntrack_entries and _limit, where the conntrack module is loaded."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric

from . import procfs
from .procfs import read_optional

_FILES = {
    "nf_conntrack_count": (
        "node_nf_conntrack_entries",
        "Number of currently allocated flow entries for connection tracking.",
    ),
    "nf_conntrack_max": (
        "node_nf_conntrack_entries_limit",
        "Maximum size of connection tracking table.",
    ),
}


def collect() -> Iterable[Metric]:
    for file, (name, help_) in _FILES.items():
        text = read_optional(procfs.PROC / "sys/net/netfilter" / file)
        if text is not None:
            yield GaugeMetricFamily(name, help_, value=float(text))
