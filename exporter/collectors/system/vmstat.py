"""node_vmstat_*: the page-in/out, swap-in/out, page-fault and OOM-kill fields of
/proc/vmstat, untyped as node_exporter publishes them (they are kernel counters)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from prometheus_client.core import Metric, UnknownMetricFamily

from . import procfs
from .procfs import read

FIELDS = re.compile(r"^(oom_kill|pgpg|pswp|pg.*fault).*")  # node_exporter's default


def collect() -> Iterable[Metric]:
    for line in read(procfs.PROC / "vmstat").splitlines():
        field, _, value = line.partition(" ")
        if FIELDS.match(field):
            yield UnknownMetricFamily(
                f"node_vmstat_{field}",
                f"/proc/vmstat information field {field}.",
                value=float(value),
            )
