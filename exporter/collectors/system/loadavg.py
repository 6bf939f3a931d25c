"""node_load1, node_load5, node_load15."""

from __future__ import annotations

import os
from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric


def collect() -> Iterable[Metric]:
    for minutes, value in zip((1, 5, 15), os.getloadavg(), strict=True):
        yield GaugeMetricFamily(f"node_load{minutes}", f"{minutes}m load average.", value)
