"""Where the kernel's files are, and the one way every area reads them.

PROC, SYS and ROOT are the host's /proc, /sys and / as this process sees them: in a
container, where the host's are mounted (node_exporter's --path.procfs, --path.sysfs and
--path.rootfs). They are set once at start-up by `use_host_paths`, before any scrape;
every area reads them at scrape time as `procfs.PROC`, never a copy taken at import.
"""

from __future__ import annotations

from pathlib import Path

import psutil

PROC = Path("/proc")
SYS = Path("/sys")
ROOT = Path("/")


def use_host_paths(proc: Path, sys: Path, root: Path) -> None:
    global PROC, SYS, ROOT
    PROC, SYS, ROOT = proc, sys, root
    psutil.PROCFS_PATH = str(proc)  # the CPU times psutil reads from <procfs>/stat


def read(path: Path) -> str:
    """The whole file: /proc and /sys files are generated at read time, so one read."""
    with open(path, encoding="ascii", errors="replace") as file:
        return file.read()


def read_optional(path: Path) -> str | None:
    """The file, or None where this kernel lacks it or refuses it (no conntrack module;
    PSI compiled in but switched off answers EOPNOTSUPP; a virtual NIC has no speed)."""
    try:
        return read(path)
    except OSError:
        return None
