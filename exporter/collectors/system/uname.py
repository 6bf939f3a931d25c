"""node_uname_info: the labels node dashboards pick their hosts by."""

from __future__ import annotations

import os
from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric

from . import procfs
from .procfs import read_optional

LABELS = ["sysname", "release", "version", "machine", "nodename", "domainname"]


def collect() -> Iterable[Metric]:
    uname = os.uname()
    domainname = (read_optional(procfs.PROC / "sys/kernel/domainname") or "(none)").strip()
    family = GaugeMetricFamily(
        "node_uname_info",
        "Labeled system information as provided by the uname system call.",
        labels=LABELS,
    )
    values = [uname.sysname, uname.release, uname.version, uname.machine, uname.nodename]
    family.add_metric([*values, domainname], 1.0)
    yield family
