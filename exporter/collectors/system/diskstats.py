"""node_disk_*: /proc/diskstats for whole block devices, in node_exporter's units (sectors
of 512 bytes, times in milliseconds turned into seconds)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from . import procfs
from .procfs import read

SECTOR_BYTES = 512.0  # the kernel counts 512-byte sectors whatever the device's own size
MS = 1 / 1000

# /proc/diskstats columns after major, minor and name, in order:
# (metric, help, scale, counter?); older kernels stop after 11, 15 or 17 columns.
_COLUMNS = [
    (
        "node_disk_reads_completed_total",
        "The total number of reads completed successfully.",
        1,
        True,
    ),
    ("node_disk_reads_merged_total", "The total number of reads merged.", 1, True),
    (
        "node_disk_read_bytes_total",
        "The total number of bytes read successfully.",
        SECTOR_BYTES,
        True,
    ),
    (
        "node_disk_read_time_seconds_total",
        "The total number of seconds spent by all reads.",
        MS,
        True,
    ),
    (
        "node_disk_writes_completed_total",
        "The total number of writes completed successfully.",
        1,
        True,
    ),
    ("node_disk_writes_merged_total", "The number of writes merged.", 1, True),
    (
        "node_disk_written_bytes_total",
        "The total number of bytes written successfully.",
        SECTOR_BYTES,
        True,
    ),
    (
        "node_disk_write_time_seconds_total",
        "This is the total number of seconds spent by all writes.",
        MS,
        True,
    ),
    ("node_disk_io_now", "The number of I/Os currently in progress.", 1, False),
    ("node_disk_io_time_seconds_total", "Total seconds spent doing I/Os.", MS, True),
    (
        "node_disk_io_time_weighted_seconds_total",
        "The weighted # of seconds spent doing I/Os.",
        MS,
        True,
    ),
    (
        "node_disk_discards_completed_total",
        "The total number of discards completed successfully.",
        1,
        True,
    ),
    ("node_disk_discards_merged_total", "The total number of discards merged.", 1, True),
    (
        "node_disk_discarded_sectors_total",
        "The total number of sectors discarded successfully.",
        1,
        True,
    ),
    (
        "node_disk_discard_time_seconds_total",
        "This is the total number of seconds spent by all discards.",
        MS,
        True,
    ),
    (
        "node_disk_flush_requests_total",
        "The total number of flush requests completed successfully",
        1,
        True,
    ),
    (
        "node_disk_flush_requests_time_seconds_total",
        "This is the total number of seconds spent by all flush requests.",
        MS,
        True,
    ),
]


def collect(devices_exclude: re.Pattern) -> Iterable[Metric]:
    families: list[Metric] = [
        CounterMetricFamily(name.removesuffix("_total"), help_, labels=["device"])
        if counter
        else GaugeMetricFamily(name, help_, labels=["device"])
        for name, help_, _, counter in _COLUMNS
    ]
    for line in read(procfs.PROC / "diskstats").splitlines():
        _major, _minor, device, *columns = line.split()
        if devices_exclude.search(device):
            continue
        for family, (_, _, scale, _), column in zip(families, _COLUMNS, columns, strict=False):
            family.add_metric([device], float(column) * scale)
    return [f for f in families if f.samples]
