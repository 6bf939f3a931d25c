"""Read a multiprocess directory fast: the work that does not change between scrapes is cached.

prometheus_client's collector parses every entry of every file at every scrape (a Python call
and a json.loads per entry, then a Sample per value) and formats each line from its labels.
Here, per process and directory, under the directory's shared lock:

- a file's layout (its keys and where their values sit) is parsed once and extended when the
  file grows (layouts.py);
- keys are decoded once into slots; each type's values from all files are lined up by slot and
  combined with C-level map/zip calls (combine.py);
- each output line's text up to the value ("name{labels} ") is built once (render.py).
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Iterator

from prometheus_client.metrics_core import Metric

from painel.new_series import HELD_TYPES, FileStore, NewSeriesHold

from . import files, render
from .combine import Group, Rule, rule_for
from .layouts import Layout, Layouts
from .lock import DirectoryLock, directory_lock
from .stats import count_unreadable_file

logger = logging.getLogger("painel.multiprocess")


class DirectoryReader:
    """Cached state for one multiprocess directory, shared by every collector in the process."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._layouts = Layouts(self._known)
        self._merged: dict[str, tuple] = {}  # merged file -> generation read at, and its values
        self._groups: dict[str, Group] = {}
        self._known_keys: dict[bytes, bytes] = {}
        self._decoded: dict[bytes, tuple] = {}  # only until the next families are built
        self._formatted = render.FormattedValues()
        self._generation: int | None = None  # the directory's, at this process's last read
        self.hold = NewSeriesHold(0.0, FileStore(path))

    def hold_new_series(self, seconds: float) -> None:
        """Render each new counter or histogram series as 0 for `seconds` (painel.new_series);
        the first-exposed times are shared with every worker through a file in the directory."""
        self.hold.hold = seconds

    def families(self) -> Iterator[tuple[render.Family, list[float]]]:
        """Every family with its values, read now; sorted by name."""
        with self._lock:
            totals = self._read()
            now = time.time()
            found = []
            for prefix, values in totals.items():
                group = self._groups[prefix]
                if not group.families:
                    group.families = render.build_families(group, self._decode)
                for family in group.families:
                    family_values = family.values(values)
                    if family.type in HELD_TYPES:
                        family_values = self.hold.zero_held(family.series, family_values, now)
                    found.append((family, family_values))
            self._decoded.clear()
        found.sort(key=lambda item: item[0].name)
        return iter(found)

    def warm_up(self) -> None:
        """Build every cache now (never raises: it runs in gunicorn's master)."""
        try:
            self.families()
        except Exception:
            logger.exception("reading %s ahead of the next scrape failed", self.path)

    def text(self, openmetrics: bool = False, any_escaping: bool = False) -> str | None:
        """The directory's lines as prometheus_client writes them (see render.text)."""
        return render.text(self.families(), self._formatted, openmetrics, any_escaping)

    def metrics(self) -> Iterator[Metric]:
        """The same families as prometheus_client Metric objects, for any registry consumer."""
        yield from render.metrics(self.families())

    def _known(self, key: bytes) -> bytes:
        known = self._known_keys.get(key)
        if known is None:
            self._decode(key)  # raises on a key that is not prometheus_client's JSON
            known = self._known_keys[key] = key
        return known

    def _decode(self, key: bytes) -> tuple:
        decoded = self._decoded.get(key)
        if decoded is None:
            decoded = self._decoded[key] = files.decode_key(key)
        return decoded

    def _read(self) -> dict[str, list[float]]:
        """Values of every type prefix, combined across files, read under the shared lock."""
        read: list[tuple[str, Group, Layout, str, tuple, tuple]] = []
        with directory_lock(self.path, exclusive=False) as lock:
            generation = lock.generation
            replaced = self._replaced_since_last_read(lock, generation)
            for name, prefix, pid in self._files():
                path = os.path.join(self.path, name)
                group = self._groups.get(prefix)
                if group is None:
                    group = self._groups[prefix] = Group(prefix)
                unchanged = self._merged.get(path)
                if pid == files.MERGED_PID and unchanged and unchanged[0] == generation:
                    # Merged files change only in a merge, which bumps the generation.
                    read.append((path, group, *unchanged[1:]))
                    continue
                try:
                    with files.mapped(path) as (inode, data, used):
                        layout = self._layouts.current(path, pid, inode, data, used, replaced)
                        values, timestamps = layout.read(
                            data, used, timestamps=group.rule is Rule.MOST_RECENT
                        )
                except FileNotFoundError:
                    continue  # a live gauge file removed between listing and reading
                except (files.CorruptFile, ValueError) as exc:
                    logger.error("skipped unreadable multiprocess file %s: %s", name, exc)
                    count_unreadable_file("scrape")
                    self._layouts.drop(path)
                    continue
                read.append((path, group, layout, pid, values, timestamps))
                if pid == files.MERGED_PID:
                    self._merged[path] = (generation, layout, pid, values, timestamps)
        for group in self._groups.values():
            mine = [(path, layout, pid) for path, g, layout, pid, *_ in read if g is group]
            group.reset_if_keys_vanished(mine)
            for path, layout, pid in mine:
                group.register(path, layout, pid)
        aligned: dict[str, list[tuple]] = {}
        stamps: dict[str, list[tuple]] = {}
        for path, group, layout, pid, values, timestamps in read:
            align = group.aligner(path, layout, pid)
            aligned.setdefault(group.prefix, []).append(align(values + (group.filler,)))
            if group.rule is Rule.MOST_RECENT:
                ts = align(timestamps + (-math.inf,))
                stamps.setdefault(group.prefix, []).append(ts)
        seen = {path for path, *_ in read}
        self._layouts.forget_except(seen)
        for path in [p for p in self._merged if p not in seen]:
            del self._merged[path]
        for group in self._groups.values():
            group.forget_except(seen)
        self._generation = generation
        return {
            prefix: self._groups[prefix].combine(values, stamps.get(prefix, []))
            for prefix, values in aligned.items()
        }

    def _files(self) -> Iterator[tuple[str, str, str]]:
        """(name, prefix, pid) of live and merged files, plus claimed files not yet merged."""
        names = os.listdir(self.path)
        for name in names:
            parsed = files.split_db_name(name)
            if parsed is not None and rule_for(parsed[0]) is not None:
                yield name, parsed[0], parsed[1]
        if any(name.endswith(files.CLAIMED_SUFFIX) for name in names):
            # Only after a merge crashed: what its journal lacks is not merged yet.
            for prefix, claimed in files.claimed_files(self.path).items():
                journal = files.read_journal(os.path.join(self.path, files.merged_name(prefix)))
                for name in claimed:
                    if name not in journal:
                        yield name, prefix, files.split_claimed_name(name)[1]

    def _replaced_since_last_read(self, lock: DirectoryLock, generation: int) -> set[str] | None:
        """Pids whose files merges have claimed since this process last read the directory: a
        file of such a pid now is a new file (the pid was used again). None: not known."""
        if self._generation is None or self._generation == generation:
            return set()
        return lock.claimed_since(self._generation)


_readers: dict[str, DirectoryReader] = {}
_readers_lock = threading.Lock()


def reader_for(path: str) -> DirectoryReader:
    """The one reader of `path` in this process, so its caches outlive each view's collector."""
    key = os.path.realpath(path)
    with _readers_lock:
        reader = _readers.get(key)
        if reader is None:
            reader = _readers[key] = DirectoryReader(key)
        return reader
