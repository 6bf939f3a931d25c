"""node_filesystem_*: size, free, available, inodes, read-only and device errors of every
real mounted filesystem, once per device, none allowed to hang the scrape."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures

from prometheus_client.core import GaugeMetricFamily, Metric

from .mounts import Mount, mounts, one_per_device

log = logging.getLogger("painel.exporter.system")

LABELS = ["device", "mountpoint", "fstype"]
STATVFS_TIMEOUT = 0.2  # seconds; a local filesystem answers in microseconds


class Filesystems:
    def __init__(self, fs_types_exclude: re.Pattern, mount_points_exclude: re.Pattern) -> None:
        self.fs_types_exclude = fs_types_exclude
        self.mount_points_exclude = mount_points_exclude
        self._statvfs = GuardedStatvfs(timeout=STATVFS_TIMEOUT)

    def close(self) -> None:
        self._statvfs.close()

    def collect(self) -> Iterable[Metric]:
        def family(name: str, help_: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"node_filesystem_{name}", help_, labels=LABELS)

        size = family("size_bytes", "Filesystem size in bytes.")
        free = family("free_bytes", "Filesystem free space in bytes.")
        avail = family("avail_bytes", "Filesystem space available to non-root users in bytes.")
        files = family("files", "Filesystem total file nodes.")
        files_free = family("files_free", "Filesystem total free file nodes.")
        readonly = family("readonly", "Filesystem read-only status.")
        device_error = family(
            "device_error",
            "Whether an error occurred while getting statistics for the given device.",
        )
        wanted: dict[str, Mount] = {}  # a mount point listed twice counts once
        for mount in mounts():
            if not (
                mount.mountpoint in wanted
                or self.fs_types_exclude.search(mount.fstype)
                or self.mount_points_exclude.search(mount.mountpoint)
            ):
                wanted[mount.mountpoint] = mount
        kept = one_per_device(list(wanted.values()))
        stats = self._statvfs.many([str(m.path()) for m in kept])
        for mount in kept:
            values = [mount.device, mount.mountpoint, mount.fstype]
            stat = stats.get(str(mount.path()))
            # a stuck or failing mount reads device_error 1 and nothing more, as in node_exporter
            device_error.add_metric(values, 0.0 if stat else 1.0)
            if stat is None:
                readonly.add_metric(values, 0.0)
                continue
            readonly.add_metric(values, 1.0 if mount.readonly else 0.0)
            size.add_metric(values, stat.f_blocks * stat.f_bsize)
            free.add_metric(values, stat.f_bfree * stat.f_bsize)
            avail.add_metric(values, stat.f_bavail * stat.f_bsize)
            files.add_metric(values, stat.f_files)
            files_free.add_metric(values, stat.f_ffree)
        return [size, free, avail, files, files_free, readonly, device_error]


class GuardedStatvfs:
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
        """The answers of the mount points that answered in time; the others are absent."""
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
