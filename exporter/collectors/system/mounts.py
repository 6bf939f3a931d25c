"""The mount table, as node_exporter's filesystem collector reads it: this process's own
(<procfs>/self/mountinfo), or, when the host's / is mounted elsewhere (--path.rootfs), the
host's init's (<procfs>/1/mountinfo), mount points named as the host names them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from . import procfs

_OCTAL = re.compile(r"\\([0-7]{3})")  # the kernel writes a space in a path as \040


@dataclass(frozen=True)
class Mount:
    device: str  # the source the table names: /dev/vda, tmpfs
    device_id: str  # major:minor, shared by every bind mount of one filesystem
    mountpoint: str  # as the host sees it
    fstype: str
    readonly: bool

    def path(self) -> Path:
        """Where this process reaches the mount point: under the host's / when elsewhere."""
        return procfs.ROOT / self.mountpoint.lstrip("/")


def mounts() -> list[Mount]:
    """Every mount, in the table's order."""
    root = str(procfs.ROOT)
    table = procfs.PROC / ("self" if root == "/" else "1") / "mountinfo"
    found = []
    for line in procfs.read(table).splitlines():
        # id parent major:minor root mountpoint options [optional...] - fstype source super
        fields = line.split()
        after = fields.index("-", 6)
        mountpoint = _unescape(fields[4])
        if root != "/" and (mountpoint + "/").startswith(root + "/"):
            # the container's own table (no hostPID): its view of the host's mounts
            mountpoint = mountpoint[len(root) :] or "/"
        found.append(
            Mount(
                device=_unescape(fields[after + 2]),
                device_id=fields[2],
                mountpoint=mountpoint,
                fstype=fields[after + 1],
                readonly="ro" in fields[5].split(","),
            )
        )
    return found


def one_per_device(mounts: list[Mount]) -> list[Mount]:
    """One mount per filesystem: the shortest mount point of each device (the first in
    the table on a tie), so that a disk bind-mounted at /etc/hosts and a log volume is
    one series, and one alert when it fills. Keyed by major:minor, not by the device's
    name: every tmpfs is named tmpfs."""
    kept: dict[str, Mount] = {}
    for mount in mounts:
        other = kept.get(mount.device_id)
        if other is None or len(mount.mountpoint) < len(other.mountpoint):
            kept[mount.device_id] = mount
    return [m for m in mounts if kept[m.device_id] is m]


def _unescape(text: str) -> str:
    return _OCTAL.sub(lambda m: chr(int(m[1], 8)), text)
