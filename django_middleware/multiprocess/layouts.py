"""Where each key's value sits in each file, parsed once per file and kept between scrapes.

A file's layout is extended when the file grows; a scrape then reads all values of a file with
one C call (an itemgetter over the file's bytes seen as doubles). A cached layout is dropped
when the file at its name is another file (a merge claimed the pid's files and the pid came
back, or the file was replaced).
"""

from __future__ import annotations

import mmap
from collections.abc import Callable

from . import files
from .combine import tuple_getter


class Layout:
    """Keys of one file and the word index (8-byte unit) of each key's value."""

    def __init__(self, inode: int) -> None:
        self.inode = inode
        self.end = files.HEADER_SIZE
        self.keys: list[bytes] = []
        self.words: list[int] = []
        self._values: Callable = tuple_getter([])
        self._timestamps: Callable | None = None

    def extend(self, data: mmap.mmap, used: int, known: Callable[[bytes], bytes]) -> None:
        """Add the entries written since the last scrape; `known` checks a key and returns
        the one copy of it that all layouts share (files of all workers hold the same keys)."""
        keys, words = files.parse_layout(data, self.end, used)
        self.keys += map(known, keys)
        self.words += words
        self.end = used
        self._values = tuple_getter(self.words)
        self._timestamps = None

    def read(self, data: mmap.mmap, used: int, timestamps: bool) -> tuple[tuple, tuple]:
        """All values (and timestamps when asked) of the file, in file order."""
        if not self.keys:
            return (), ()
        with memoryview(data) as whole, whole[:used] as view, view.cast("d") as words:
            values = self._values(words)
            stamps = self._timestamp_getter()(words) if timestamps else ()
        return values, stamps

    def _timestamp_getter(self) -> Callable:
        # Only mostrecent gauges need timestamps: made on first use.
        if self._timestamps is None:
            self._timestamps = tuple_getter([w + 1 for w in self.words])
        return self._timestamps

    def still_matches(self, data: mmap.mmap, used: int) -> bool:
        """Are our keys still where we found them (a file name may hold a new file)?"""
        for key, word in zip(self.keys, self.words, strict=True):
            start = word * 8 - len(key) - files.key_padding(len(key))
            if data[start : start + len(key)] != key:
                return False
        return True


class Layouts:
    """This process's layout of each file of one directory, by path."""

    def __init__(self, known: Callable[[bytes], bytes]) -> None:
        self._known = known
        self._by_path: dict[str, Layout] = {}

    def current(
        self, path: str, pid: str, inode: int, data: mmap.mmap, used: int, replaced: set | None
    ) -> Layout:
        """The layout of the file now at `path`, reused when still valid, extended to `used`.

        replaced: pids whose files merges claimed since the last read (None: not known)."""
        layout = self._by_path.get(path)
        if layout is not None and not _still_valid(layout, pid, inode, data, used, replaced):
            layout = None
        if layout is None:
            layout = self._by_path[path] = Layout(inode)
        layout.inode = inode
        if used > layout.end:
            layout.extend(data, used, self._known)
        return layout

    def drop(self, path: str) -> None:
        self._by_path.pop(path, None)

    def forget_except(self, paths: set[str]) -> None:
        for path in [p for p in self._by_path if p not in paths]:
            del self._by_path[path]


def _still_valid(
    layout: Layout, pid: str, inode: int, data: mmap.mmap, used: int, replaced: set | None
) -> bool:
    """Does the cached layout still describe the file now at its name?"""
    if used < layout.end:
        return False
    if replaced is None:  # which files merges replaced is not known: compare the keys
        return (pid == files.MERGED_PID or layout.inode == inode) and layout.still_matches(
            data, used
        )
    if pid == files.MERGED_PID:
        # A merge writes a new merged file (another inode) with the entries of the old one
        # first, in the same order and places, then the new keys (merge.py).
        return True
    # A file claimed by a merge is renamed away; one under its name now is another process's
    # (even if the freed inode number went to it).
    return layout.inode == inode and pid not in replaced
