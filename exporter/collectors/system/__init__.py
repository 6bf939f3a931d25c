"""The host, read from /proc and /sys, published under node_exporter's names, labels,
units and types.

One module per node_exporter collector area, laid out as node_exporter lays out its own,
so that its community dashboards and the node-mixin alerts read the same series here.
Everything is read at scrape time; each area is one or two small kernel files.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Iterable
from pathlib import Path

from prometheus_client.core import Metric

from exporter.collectors.base import Collector, ConfigError

from . import (
    clock,
    conntrack,
    cpu,
    diskstats,
    filefd,
    loadavg,
    meminfo,
    netclass,
    netdev,
    pressure,
    procfs,
    stat,
    timex,
    uname,
    vmstat,
)
from .filesystem import Filesystems

NAME = "system"

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


# node_exporter's flags and defaults: in a container, where the host's are mounted
HOST_PATH_FLAGS = {"--path.procfs": "/proc", "--path.sysfs": "/sys", "--path.rootfs": "/"}


def add_flags(parser: argparse.ArgumentParser) -> None:
    for flag, default in HOST_PATH_FLAGS.items():
        parser.add_argument(
            flag,
            dest=flag[2:].replace(".", "_"),  # args.path_procfs
            default=default,
            metavar="DIR",
            help=f"the host's {default} as mounted here (default %(default)s)",
        )
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
        help="network devices left out of node_network_*_total (default: node_exporter's: lo)",
    )


def has_target(args: argparse.Namespace) -> bool:
    return True  # the host is always there


def build(args: argparse.Namespace) -> list[Collector]:
    procfs.use_host_paths(
        proc=_directory(args.path_procfs, "--path.procfs"),
        sys=_directory(args.path_sysfs, "--path.sysfs"),
        root=_directory(args.path_rootfs, "--path.rootfs"),
    )
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


def _directory(path: str, flag: str) -> Path:
    if not Path(path).is_dir():
        raise ConfigError(f"{flag} {path}: no such directory (mount the host's there)")
    return Path(path)


def _regex(pattern: str, flag: str) -> re.Pattern:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"{flag}: not a regular expression ({exc})") from None


class SystemCollector(Collector):
    name = NAME
    counts_own_events = False  # copies of the kernel's counters

    def __init__(
        self,
        fs_types_exclude: re.Pattern,
        mount_points_exclude: re.Pattern,
        disk_devices_exclude: re.Pattern,
        network_devices_exclude: re.Pattern,
    ) -> None:
        self.disk_devices_exclude = disk_devices_exclude
        self.network_devices_exclude = network_devices_exclude
        self.filesystems = Filesystems(fs_types_exclude, mount_points_exclude)

    def status(self) -> dict:
        return {"host": os.uname().nodename}

    def stop(self) -> None:
        self.filesystems.close()

    def collect(self) -> Iterable[Metric]:
        yield from cpu.collect()
        yield from loadavg.collect()
        yield from stat.collect()
        yield from meminfo.collect()
        yield from vmstat.collect()
        yield from pressure.collect()
        yield from self.filesystems.collect()
        yield from diskstats.collect(self.disk_devices_exclude)
        yield from netdev.collect(self.network_devices_exclude)
        yield from netclass.collect()
        yield from filefd.collect()
        yield from clock.collect()
        yield from timex.collect()
        yield from conntrack.collect()
        yield from uname.collect()
