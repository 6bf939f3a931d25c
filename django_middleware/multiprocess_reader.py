"""Read a multiprocess directory fast: the work that does not change between scrapes is cached.

prometheus_client's collector parses every entry of every file at every scrape (a Python call
and a json.loads per entry, then a Sample per value) and formats each line from its labels.
Here, per process and directory:

- a file's layout (its keys and where their values sit) is parsed once and extended when the
  file grows; a scrape then reads all values of a file with one C call (an itemgetter over
  the file's bytes seen as doubles);
- keys are decoded once into slots; each type's values from all files are lined up by slot and
  combined with C-level map/zip calls;
- each output line's text up to the value ("name{labels} ") is built once.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import logging
import math
import mmap
import os
import re
import threading
from collections.abc import Callable, Iterator
from operator import itemgetter

from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import escape_label_name, escape_metric_name
from prometheus_client.utils import floatToGoString

from . import multiprocess_files as files
from .multiprocess_lock import DirectoryLock, directory_lock
from .multiprocess_merge import claimed_files
from .multiprocess_rules import Rule, metric_type, rule_for
from .multiprocess_stats import count_unreadable_file

logger = logging.getLogger("painel.multiprocess")

_FILLERS = {
    Rule.SUM: 0.0,
    Rule.PER_PROCESS: 0.0,
    Rule.MAX: -math.inf,
    Rule.MIN: math.inf,
    Rule.MOST_RECENT: math.nan,
}
_REDUCERS = {Rule.SUM: sum, Rule.PER_PROCESS: sum, Rule.MAX: max, Rule.MIN: min}


def _tuple_getter(indices: list[int]) -> Callable[[tuple | memoryview], tuple]:
    """itemgetter that returns a tuple for any number of indices (it returns a bare item for one)."""
    if len(indices) == 1:
        (index,) = indices
        return lambda seq: (seq[index],)
    if not indices:
        return lambda seq: ()
    return itemgetter(*indices)


class _Layout:
    """Keys of one file and the word index (8-byte unit) of each key's value."""

    def __init__(self, inode: int) -> None:
        self.inode = inode
        self.end = files.HEADER_SIZE
        self.keys: list[bytes] = []
        self.words: list[int] = []
        self.values: Callable = _tuple_getter([])
        self._timestamps: Callable | None = None

    def extend(self, data: mmap.mmap, used: int, known: Callable[[bytes], bytes]) -> None:
        """Add the entries written since the last scrape; `known` checks a key and returns
        the one copy of it that all layouts share (files of all workers hold the same keys)."""
        keys, words = files.parse_layout(data, self.end, used)
        self.keys += map(known, keys)
        self.words += words
        self.end = used
        self.values = _tuple_getter(self.words)
        self._timestamps = None

    @property
    def timestamps(self) -> Callable:
        """Only mostrecent gauges need timestamps: made on first use."""
        if self._timestamps is None:
            self._timestamps = _tuple_getter([w + 1 for w in self.words])
        return self._timestamps

    def still_matches(self, data: mmap.mmap, used: int) -> bool:
        """Are our keys still where we found them (a file name may hold a new file)?"""
        for key, word in zip(self.keys, self.words, strict=True):
            start = word * 8 - len(key) - (8 - (len(key) + 4) % 8)
            if data[start : start + len(key)] != key:
                return False
        return True


class _Family:
    """One metric family's lines: fixed text up to the value, and how to get the values."""

    def __init__(self, name: str, typ: str, documentation: str) -> None:
        self.name = name
        self.type = typ
        self.documentation = documentation
        escaped = documentation.replace("\\", r"\\").replace("\n", r"\n")
        self.header = f"# HELP {_metric_name(name)} {escaped}\n# TYPE {_metric_name(name)} {typ}\n"
        # OpenMetrics names a counter family without _total and also escapes quotes in help.
        base = name.removesuffix("_total") if typ == "counter" else name
        escaped = escaped.replace('"', r"\"")
        self.openmetrics_header = (
            f"# HELP {_metric_name(base)} {escaped}\n# TYPE {_metric_name(base)} {typ}\n"
        )
        self.legacy_names = _LEGACY_METRIC_NAME.fullmatch(name) is not None
        self.samples: list[tuple[str, dict[str, str], str | None]] = []
        self.prefixes: list[str] = []
        self.values: Callable[[list[float]], list[float]] = lambda totals: []

    def add(
        self,
        sample_name: str,
        labels: dict[str, str],
        label_text: str | None = None,
        le: str | None = None,
    ) -> None:
        """A line; `le` is the bucket bound of a histogram line, not in `labels` (memory)."""
        self.samples.append((sample_name, labels, le))
        if self.legacy_names and not (
            _LEGACY_METRIC_NAME.fullmatch(sample_name)
            and all(_LEGACY_LABEL_NAME.fullmatch(k) for k in labels)
        ):
            self.legacy_names = False
        if label_text is None:
            label_text = _label_text(sorted(labels.items()))
        self.prefixes.append(f"{_metric_name(sample_name)}{label_text} ")


# The classic name rules: names that every escaping scheme leaves as they are.
_LEGACY_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LEGACY_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def _label_text(pairs: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> str:
    """`{a="1",b="2"}` for label pairs sorted by name, as prometheus_client writes them."""
    return "{" + ",".join([_label_pair(k, v) for k, v in pairs]) + "}" if pairs else ""


# Label names and values repeat across thousands of lines: escape each one once.
@functools.lru_cache(maxsize=1 << 16)
def _label_pair(name: str, value: str) -> str:
    escaped = value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return f'{escape_label_name(name)}="{escaped}"'


@functools.lru_cache(maxsize=1 << 10)
def _metric_name(name: str) -> str:
    return escape_metric_name(name)


class _Group:
    """All files of one type prefix (`counter`, `gauge_max`...), combined by its rule."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.type = metric_type(prefix)
        self.rule = rule_for(prefix)
        self.filler = _FILLERS[self.rule]
        # key (or (key, pid) for per-process gauges) -> slot; slots are numbered in order.
        self.slots: dict = {}
        self.families: list[_Family] = []
        self._aligners: dict[str, tuple[_Layout, int, int, Callable]] = {}
        self._registered: dict[str, tuple[_Layout, int]] = {}

    def reset_if_keys_vanished(self, current: list[tuple[str, _Layout, str]]) -> None:
        """Forget series that no file holds any more (a live gauge's dead process, pid series)."""
        if not set(self._registered) - {path for path, _, _ in current}:
            return
        present = {self.slot_key(k, pid) for _, layout, pid in current for k in layout.keys}
        if not self.slots.keys() <= present:
            self.slots = {}
            self.families = []
            self._aligners = {}
            self._registered = {}

    def slot_key(self, key: bytes, pid: str):
        return (key, pid) if self.rule is Rule.PER_PROCESS else key

    def register(self, path: str, layout: _Layout, pid: str) -> None:
        """Give every key of a file a slot; before any file is aligned, so all agree on slots."""
        done = self._registered.get(path)
        start = done[1] if done and done[0] is layout else 0
        self._registered[path] = (layout, len(layout.keys))
        for key in layout.keys[start:]:
            slot_key = self.slot_key(key, pid)
            if slot_key not in self.slots:
                self.slots[slot_key] = len(self.slots)
                self.families = []  # rebuilt on demand

    def aligner(self, path: str, layout: _Layout, pid: str) -> Callable:
        """Getter that lines a file's values up by slot (missing slots take the filler)."""
        cached = self._aligners.get(path)
        if (
            cached
            and cached[0] is layout
            and cached[1] == len(layout.keys)
            and cached[2] == len(self.slots)
        ):
            return cached[3]
        # Indices as the slot numbers' own int objects (slots are numbered 0, 1...): every
        # file's getter then shares one copy of each, not 28,000 new ints per file for 2,000
        # endpoint-tenant pairs (ints above 256 are objects of 28 bytes).
        numbers = list(self.slots.values())
        position = {self.slot_key(key, pid): numbers[i] for i, key in enumerate(layout.keys)}
        missing = len(layout.keys)
        getter = _tuple_getter([position.get(s, missing) for s in self.slots])
        self._aligners[path] = (layout, len(layout.keys), len(self.slots), getter)
        return getter

    def forget_except(self, paths: set[str]) -> None:
        for cache in (self._aligners, self._registered):
            for path in [p for p in cache if p not in paths]:
                del cache[path]

    def combine(self, aligned: list[tuple], timestamps: list[tuple]) -> list[float]:
        if self.rule is Rule.MOST_RECENT:
            return [
                vs[max(range(len(ts)), key=ts.__getitem__)]
                for vs, ts in zip(
                    zip(*aligned, strict=True), zip(*timestamps, strict=True), strict=True
                )
            ]
        if len(aligned) == 1:
            return list(aligned[0])
        return list(map(_REDUCERS[self.rule], zip(*aligned, strict=True)))

    def plan(self, decode: Callable[[bytes], tuple]) -> list[_Family]:
        if not self.families:
            self.families = _build_families(self, decode)
        return self.families


def _build_families(group: _Group, decode: Callable[[bytes], tuple]) -> list[_Family]:
    by_metric: dict[str, list[tuple[int, str, dict[str, str], str]]] = {}
    per_process = group.rule is Rule.PER_PROCESS
    for slot, slot_key in enumerate(group.slots):
        key, pid = slot_key if per_process else (slot_key, None)
        metric_name, sample_name, labels, documentation = decode(key)
        if pid is not None:
            labels = {**labels, "pid": pid}
        by_metric.setdefault(metric_name, []).append((slot, sample_name, labels, documentation))
    families = []
    for metric_name, entries in by_metric.items():
        if group.type == "histogram":
            families.append(_histogram_family(metric_name, entries))
        else:
            name = metric_name + "_total" if group.type == "counter" else metric_name
            family = _Family(name, group.type, entries[-1][3])
            entries.sort(key=lambda e: (e[1], sorted(e[2].items())))
            for _, sample_name, labels, _ in entries:
                family.add(sample_name, labels)
            family.values = _tuple_getter([e[0] for e in entries])
            families.append(family)
    return families


def _histogram_family(metric_name: str, entries: list) -> _Family:
    """Buckets are stored per bucket; exposition wants them cumulative, then _count and _sum."""
    # One string per sample name, not one per line (24,000 bucket lines for 2,000 pairs).
    bucket, count, total = metric_name + "_bucket", metric_name + "_count", metric_name + "_sum"
    series: dict[tuple, dict] = {}
    for slot, sample_name, labels, _ in entries:
        le = labels.get("le")
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        parts = series.setdefault(rest, {"buckets": [], "sum": None})
        if sample_name == bucket and le is not None:
            parts["buckets"].append((float(le), slot))
        elif sample_name == total:
            parts["sum"] = slot
    family = _Family(metric_name, "histogram", entries[-1][3])
    order: list[int] = []
    shapes: list[tuple[int, bool]] = []
    for rest, parts in sorted(series.items()):
        labels = dict(rest)
        text = _label_text(rest)
        # Bucket lines differ only in le: write the labels around it once per series.
        cut = bisect.bisect([name for name, _ in rest], "le")
        before = "".join(_label_pair(k, v) + "," for k, v in rest[:cut])
        after = "".join("," + _label_pair(k, v) for k, v in rest[cut:])
        buckets = sorted(parts["buckets"])
        for bound, slot in buckets:
            le = floatToGoString(bound)
            family.add(
                bucket,
                labels,
                "{" + before + _label_pair("le", le) + after + "}",
                le,
            )
            order.append(slot)
        if buckets:
            family.add(count, labels, text)
        if parts["sum"] is not None:
            family.add(total, labels, text)
            order.append(parts["sum"])
        shapes.append((len(buckets), parts["sum"] is not None))
    pick = _tuple_getter(order)

    def values(totals: list[float]) -> list[float]:
        picked = pick(totals)
        out: list[float] = []
        pos = 0
        for n_buckets, has_sum in shapes:
            if n_buckets:
                cumulative = list(itertools.accumulate(picked[pos : pos + n_buckets]))
                out += cumulative
                out.append(cumulative[-1])
                pos += n_buckets
            if has_sum:
                out.append(picked[pos])
                pos += 1
        return out

    family.values = values
    return family


class _FormattedValues(dict):
    """Value -> "value\\n" as prometheus_client writes it; most values repeat between lines."""

    def __missing__(self, value: float) -> str:
        text = self[value] = floatToGoString(value) + "\n"
        return text


class DirectoryReader:
    """Cached state for one multiprocess directory, shared by every collector in the process."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._layouts: dict[str, _Layout] = {}
        self._merged: dict[str, tuple] = {}  # merged file -> generation read at, and its values
        self._groups: dict[str, _Group] = {}
        self._known_keys: dict[bytes, bytes] = {}
        self._decoded: dict[bytes, tuple] = {}  # only until the next families are built
        self._formatted = _FormattedValues()
        self._generation: int | None = None  # the directory's, at this process's last read

    def families(self) -> Iterator[tuple[_Family, list[float]]]:
        """Every family with its values, read now; sorted by name."""
        with self._lock:
            totals = self._read()
            found = []
            for prefix, values in totals.items():
                group = self._groups[prefix]
                for family in group.plan(self._decode):
                    found.append((family, family.values(values)))
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
        """The lines prometheus_client's generate_latest (or its OpenMetrics one, without the
        final # EOF) writes with the default escaping; with `any_escaping`, None when a name
        would come out differently under another escaping scheme."""
        if len(self._formatted) > 100_000:  # counters keep growing: keep the memo small
            self._formatted.clear()
        formatted = self._formatted.__getitem__
        out = []
        for family, values in self.families():
            if any_escaping and not family.legacy_names:
                return None
            out.append(family.openmetrics_header if openmetrics else family.header)
            out.extend(map(str.__add__, family.prefixes, map(formatted, values)))
        return "".join(out)

    def metrics(self) -> Iterator[Metric]:
        """The same families as prometheus_client Metric objects, for any registry consumer."""
        for family, values in self.families():
            counter = family.type == "counter"
            name = family.name[: -len("_total")] if counter else family.name
            metric = Metric(name, family.documentation, family.type)
            for (sample_name, labels, le), value in zip(family.samples, values, strict=True):
                metric.add_sample(
                    sample_name, labels if le is None else {**labels, "le": le}, value
                )
            yield metric

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
        read: list[tuple[str, _Group, _Layout, str, tuple, tuple]] = []
        with directory_lock(self.path, exclusive=False) as lock:
            generation = lock.generation
            replaced = self._replaced_since_last_read(lock, generation)
            for name, prefix, pid in self._files():
                path = os.path.join(self.path, name)
                group = self._groups.get(prefix)
                if group is None:
                    group = self._groups[prefix] = _Group(prefix)
                unchanged = self._merged.get(path)
                if pid == files.MERGED_PID and unchanged and unchanged[0] == generation:
                    # Merged files change only in a merge, which bumps the generation.
                    read.append((path, group, *unchanged[1:]))
                    continue
                try:
                    with files.mapped(path) as (inode, data, used):
                        layout = self._layout(path, pid, inode, data, used, replaced)
                        values, timestamps = self._values(group, layout, data, used)
                except FileNotFoundError:
                    continue  # a live gauge file removed between listing and reading
                except (files.CorruptFile, ValueError) as exc:
                    logger.error("skipped unreadable multiprocess file %s: %s", name, exc)
                    count_unreadable_file("scrape")
                    self._layouts.pop(path, None)
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
        for cache in (self._layouts, self._merged):
            for path in [p for p in cache if p not in seen]:
                del cache[path]
        for group in self._groups.values():
            group.forget_except(seen)
        self._generation = generation
        return {
            prefix: self._groups[prefix].combine(values, stamps.get(prefix, []))
            for prefix, values in aligned.items()
        }

    @staticmethod
    def _values(group: _Group, layout: _Layout, data: mmap.mmap, used: int) -> tuple[tuple, tuple]:
        """All values (and timestamps where the rule needs them) of a file, in file order."""
        if not layout.keys:
            return (), ()
        with memoryview(data) as whole, whole[:used] as view, view.cast("d") as words:
            values = layout.values(words)
            timestamps = layout.timestamps(words) if group.rule is Rule.MOST_RECENT else ()
        return values, timestamps

    def _files(self) -> Iterator[tuple[str, str, str]]:
        """(name, prefix, pid) of live and merged files, plus claimed files not yet merged."""
        names = os.listdir(self.path)
        for name in names:
            parsed = files.split_db_name(name)
            if parsed is not None and rule_for(parsed[0]) is not None:
                yield name, parsed[0], parsed[1]
        if any(name.endswith(files.CLAIMED_SUFFIX) for name in names):
            # Only after a merge crashed: what its journal lacks is not merged yet.
            for prefix, claimed in claimed_files(self.path).items():
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

    def _layout(
        self, path: str, pid: str, inode: int, data: mmap.mmap, used: int, replaced: set | None
    ) -> _Layout:
        layout = self._layouts.get(path)
        if layout is not None and not _still_valid(layout, pid, inode, data, used, replaced):
            layout = None
        if layout is None:
            layout = self._layouts[path] = _Layout(inode)
        layout.inode = inode
        if used > layout.end:
            layout.extend(data, used, self._known)
        return layout


def _still_valid(
    layout: _Layout, pid: str, inode: int, data: mmap.mmap, used: int, replaced: set | None
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
        # first, in the same order and places, then the new keys (multiprocess_merge).
        return True
    # A file claimed by a merge is renamed away; one under its name now is another process's
    # (even if the freed inode number went to it).
    return layout.inode == inode and pid not in replaced


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
