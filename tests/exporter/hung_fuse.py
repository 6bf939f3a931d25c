"""Run a command beside FUSE filesystems whose server never answers: a real hung mount.

    unshare --mount --propagation private python tests/exporter/hung_fuse.py MNT... -- CMD...

Each MNT is mounted with an open /dev/fuse descriptor that nobody reads, so statvfs() on it
blocks the way it does on a dead NFS or sshfs server. Run under `unshare --mount`, the
mounts exist only for CMD (the rest of the machine never sees them) and vanish with it;
the descriptors are inherited by CMD, and the kernel aborts the connections when it exits.
"""

from __future__ import annotations

import ctypes
import os
import sys

MS_NOSUID, MS_NODEV = 2, 4


def mount_hung(mountpoint: str, libc: ctypes.CDLL) -> None:
    os.makedirs(mountpoint, exist_ok=True)
    fd = os.open("/dev/fuse", os.O_RDWR)
    os.set_inheritable(fd, True)
    options = f"fd={fd},rootmode=40000,user_id=0,group_id=0".encode()
    flags = MS_NOSUID | MS_NODEV
    if libc.mount(b"painel-hung", mountpoint.encode(), b"fuse.painel", flags, options) != 0:
        raise OSError(ctypes.get_errno(), f"mount {mountpoint}")


def main(argv: list[str]) -> None:
    split = argv.index("--")
    libc = ctypes.CDLL(None, use_errno=True)
    for mountpoint in argv[:split]:
        mount_hung(mountpoint, libc)
    command = argv[split + 1 :]
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
