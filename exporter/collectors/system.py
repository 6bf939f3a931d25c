"""The host, read through psutil, published under node_exporter's names, labels and units.

Same names as node_exporter so that its community dashboards and the node-mixin alerts
work unchanged; only the series those need, read at scrape time (each read is a /proc
file, well under a millisecond).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures

import psutil
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from exporter.collectors.base import Collector, ConfigError

NAME = "system"
log = logging.getLogger("painel.exporter.system")

# The defaults of Debian's prometheus-node-exporter 1.5 (the one the tests compare with),
# so both agree on which filesystems, disks and network devices are real.
DEFAULT_FS_TYPES_EXCLUDE = (
    r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs"
    r"|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs"
    r"|squashfs|sysfs|tracefs)$"
)
DEFAULT_MOUNT_POINTS_EXCLUDE = (
    r"^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
)
DEFAULT_DISK_DEVICES_EXCLUDE = r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$"
DEFAULT_NETWORK_DEVICES_EXCLUDE = r"^lo$"
STATVFS_TIMEOUT = 0.2  # seconds; a local filesystem answers in microseconds
# psutil's names for /proc/stat's columns, mapped to node_exporter's `mode` values; guest
# time is already inside user and nice, and node_exporter reports it on another metric.
_CPU_MODES = {
    "user": "user",
    "nice": "nice",
    "system": "system",
    "idle": "idle",
    "iowait": "iowait",
    "irq": "irq",
    "softirq": "softirq",
    "steal": "steal",
}


def add_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--system-fs-types-exclude",
        default=DEFAULT_FS_TYPES_EXCLUDE,
        metavar="REGEX",
        help="filesystem types left out of node_filesystem_* (default: node_exporter's)",
    )
    parser.add_argument(
        "--system-mount-points-exclude",
        default=DEFAULT_MOUNT_POINTS_EXCLUDE,
        metavar="REGEX",
        help="mount points left out of node_filesystem_* (default: node_exporter's)",
    )
    parser.add_argument(
        "--system-disk-devices-exclude",
        default=DEFAULT_DISK_DEVICES_EXCLUDE,
        metavar="REGEX",
        help="block devices left out of node_disk_* (default: node_exporter's: partitions, "
        "loop and ram devices)",
    )
    parser.add_argument(
        "--system-network-devices-exclude",
        default=DEFAULT_NETWORK_DEVICES_EXCLUDE,
        metavar="REGEX",
        help="network devices left out of node_network_* (default: node_exporter's: lo)",
    )


def has_target(args: argparse.Namespace) -> bool:
    return True  # the host is always there


def build(args: argparse.Namespace) -> list[Collector]:
    return [
        SystemCollector(
            fs_types_exclude=_regex(args.system_fs_types_exclude, "--system-fs-types-exclude"),
            mount_points_exclude=_regex(
                args.system_mount_points_exclude, "--system-mount-points-exclude"
            ),
            disk_devices_exclude=_regex(
                args.system_disk_devices_exclude, "--system-disk-devices-exclude"
            ),
            network_devices_exclude=_regex(
                args.system_network_devices_exclude, "--system-network-devices-exclude"
            ),
        )
    ]


def _regex(pattern: str, flag: str) -> re.Pattern:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"{flag}: not a regular expression ({exc})") from None


class SystemCollector(Collector):
    name = NAME

    def __init__(
        self,
        fs_types_exclude: re.Pattern,
        mount_points_exclude: re.Pattern,
        disk_devices_exclude: re.Pattern,
        network_devices_exclude: re.Pattern,
    ) -> None:
        self.fs_types_exclude = fs_types_exclude
        self.mount_points_exclude = mount_points_exclude
        self.disk_devices_exclude = disk_devices_exclude
        self.network_devices_exclude = network_devices_exclude
        self._statvfs = _GuardedStatvfs(timeout=STATVFS_TIMEOUT)

    def status(self) -> dict:
        return {"host": os.uname().nodename}

    def stop(self) -> None:
        self._statvfs.close()

    def collect(self) -> Iterable[Metric]:
        yield from self._cpu()
        yield from self._load()
        yield from self._memory()
        yield from self._filesystems()
        yield from self._disks()
        yield from self._network()
        yield GaugeMetricFamily(
            "node_boot_time_seconds", "Node boot time, in unixtime.", value=psutil.boot_time()
        )

    def _cpu(self) -> Iterable[Metric]:
        family = CounterMetricFamily(
            "node_cpu_seconds_total",
            "Seconds the CPUs spent in each mode.",
            labels=["cpu", "mode"],
        )
        for cpu, times in enumerate(psutil.cpu_times(percpu=True)):
            for field, mode in _CPU_MODES.items():
                if hasattr(times, field):
                    family.add_metric([str(cpu), mode], getattr(times, field))
        yield family

    def _load(self) -> Iterable[Metric]:
        for minutes, value in zip((1, 5, 15), psutil.getloadavg(), strict=True):
            yield GaugeMetricFamily(f"node_load{minutes}", f"{minutes}m load average.", value)

    def _memory(self) -> Iterable[Metric]:
        memory = psutil.virtual_memory()
        swap = psutil.swap_memory()
        for name, value in (
            ("MemTotal", memory.total),
            ("MemAvailable", memory.available),
            ("SwapTotal", swap.total),
            ("SwapFree", swap.free),
        ):
            yield GaugeMetricFamily(
                f"node_memory_{name}_bytes",
                f"Memory information field {name}_bytes.",
                value=value,
            )

    def _filesystems(self) -> Iterable[Metric]:
        labels = ["device", "mountpoint", "fstype"]
        size = GaugeMetricFamily(
            "node_filesystem_size_bytes", "Filesystem size in bytes.", labels=labels
        )
        free = GaugeMetricFamily(
            "node_filesystem_free_bytes", "Filesystem free space in bytes.", labels=labels
        )
        avail = GaugeMetricFamily(
            "node_filesystem_avail_bytes",
            "Filesystem space available to non-root users in bytes.",
            labels=labels,
        )
        mounts: dict[str, tuple[str, str]] = {}
        for part in psutil.disk_partitions(all=True):
            if not (
                part.mountpoint in mounts
                or self.fs_types_exclude.search(part.fstype)
                or self.mount_points_exclude.search(part.mountpoint)
            ):
                mounts[part.mountpoint] = (part.device, part.fstype)
        for mountpoint, stat in self._statvfs.many(list(mounts)).items():
            device, fstype = mounts[mountpoint]
            values = [device, mountpoint, fstype]
            size.add_metric(values, stat.f_blocks * stat.f_bsize)
            free.add_metric(values, stat.f_bfree * stat.f_bsize)
            avail.add_metric(values, stat.f_bavail * stat.f_bsize)
        yield from (size, free, avail)

    def _disks(self) -> Iterable[Metric]:
        read = CounterMetricFamily(
            "node_disk_read_bytes_total",
            "The total number of bytes read successfully.",
            labels=["device"],
        )
        written = CounterMetricFamily(
            "node_disk_written_bytes_total",
            "The total number of bytes written successfully.",
            labels=["device"],
        )
        # nowrap=False: report the kernel's counters as they are, like node_exporter.
        counters = psutil.disk_io_counters(perdisk=True, nowrap=False) or {}
        for device, io in counters.items():
            if self.disk_devices_exclude.search(device):
                continue
            read.add_metric([device], io.read_bytes)
            written.add_metric([device], io.write_bytes)
        yield read
        yield written

    def _network(self) -> Iterable[Metric]:
        received = CounterMetricFamily(
            "node_network_receive_bytes_total",
            "Network device statistic receive_bytes.",
            labels=["device"],
        )
        sent = CounterMetricFamily(
            "node_network_transmit_bytes_total",
            "Network device statistic transmit_bytes.",
            labels=["device"],
        )
        for device, io in psutil.net_io_counters(pernic=True, nowrap=False).items():
            if self.network_devices_exclude.search(device):
                continue
            received.add_metric([device], io.bytes_recv)
            sent.add_metric([device], io.bytes_sent)
        yield received
        yield sent


class _GuardedStatvfs:
    """statvfs() on many mount points at once, none allowed to hang the scrape.

    A dead NFS or FUSE server blocks statvfs() forever, which node_exporter users know
    as a scrape that never returns. Each call runs on a small pool; a mount point whose
    call overruns the timeout is reported stuck and skipped until that call returns.
    statvfs directly rather than psutil.disk_usage, which hides f_bfree (root-reserved
    blocks included), the value of node_filesystem_free_bytes.

    Stuck calls hold their threads. Before they can take the last free one, the pool is
    left to them and a new one serves the mounts that answer; the threads stay bounded by
    the number of hung mounts, since each has at most one call outstanding.
    """

    WORKERS = 4

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._pool = self._new_pool()
        self._stuck: dict[str, Future] = {}
        self._holding: set[Future] = set()  # stuck calls on self._pool, running or queued

    @classmethod
    def _new_pool(cls) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=cls.WORKERS, thread_name_prefix="statvfs")

    def many(self, mountpoints: list[str]) -> dict[str, os.statvfs_result]:
        calls: dict[str, Future] = {}
        for mountpoint in mountpoints:
            pending = self._stuck.get(mountpoint)
            if pending is not None and not pending.done():
                continue
            if pending is not None:
                del self._stuck[mountpoint]
                if not pending.cancelled():  # cancelled: queued behind hung ones, never ran
                    log.info("filesystem %s answers again", mountpoint)
            calls[mountpoint] = self._pool.submit(os.statvfs, mountpoint)
        wait_futures(calls.values(), timeout=self.timeout)
        results: dict[str, os.statvfs_result] = {}
        for mountpoint, call in calls.items():
            if not call.done():
                self._stuck[mountpoint] = call
                log.warning(
                    "filesystem %s is stuck: statvfs took over %gs", mountpoint, self.timeout
                )
            elif call.exception() is not None:
                log.debug("skipping %s: %s", mountpoint, call.exception())
            else:
                results[mountpoint] = call.result()
        self._holding = {c for c in (*self._holding, *calls.values()) if not c.done()}
        if len(self._holding) >= self.WORKERS - 1:
            # queued calls are cancelled, so their mounts are tried again on the new pool
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            self._holding = set()
        return results

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
