"""Where the kernel's files are, and the one way every area reads them."""

from __future__ import annotations

from pathlib import Path

PROC = Path("/proc")
SYS = Path("/sys")


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
