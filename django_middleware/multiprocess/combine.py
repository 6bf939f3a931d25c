"""How the values of one key from several process files combine, by file type and gauge mode.

The same rule serves a merge (a dead file folded into the merged one: `fold`) and a scrape (the
values of all files of one type lined up by slot and combined at once: `Group`), so both always
agree with what prometheus_client's own collector would show.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from operator import itemgetter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .layouts import Layout


class Rule(enum.Enum):
    SUM = "sum"  # counters, histograms, summaries, sum gauges
    MAX = "max"
    MIN = "min"
    MOST_RECENT = "mostrecent"  # the value with the latest timestamp
    PER_PROCESS = "all"  # one series per process, labelled pid


_GAUGE_RULES = {
    "sum": Rule.SUM,
    "max": Rule.MAX,
    "min": Rule.MIN,
    "mostrecent": Rule.MOST_RECENT,
    "all": Rule.PER_PROCESS,
}


def rule_for(prefix: str) -> Rule | None:
    """`counter` -> SUM, `gauge_livemax` -> MAX; None for a file type we do not know."""
    typ, _, mode = prefix.partition("_")
    if typ in ("counter", "histogram", "summary") and not mode:
        return Rule.SUM
    if typ == "gauge":
        return _GAUGE_RULES.get(mode.removeprefix("live"))
    return None


def metric_type(prefix: str) -> str:
    return prefix.partition("_")[0]


def is_live(prefix: str) -> bool:
    """Live gauges forget a process when it dies; everything else keeps what it wrote."""
    return prefix.startswith("gauge_live")


def fold(rule: Rule, old: tuple[float, float], new: tuple[float, float]) -> tuple[float, float]:
    """Fold a dead process's (value, timestamp) into the merged one."""
    if rule is Rule.SUM:
        return (old[0] + new[0], 0.0)
    if rule is Rule.MAX:
        return new if new[0] > old[0] else old
    if rule is Rule.MIN:
        return new if new[0] < old[0] else old
    if rule is Rule.MOST_RECENT:
        return new if new[1] >= old[1] else old
    # PER_PROCESS: dead processes share the pid="merged" series; the last one to die wins.
    return new


# What a file that lacks a key contributes to it, and how lined-up values reduce.
_FILLERS = {
    Rule.SUM: 0.0,
    Rule.PER_PROCESS: 0.0,
    Rule.MAX: -math.inf,
    Rule.MIN: math.inf,
    Rule.MOST_RECENT: math.nan,
}
_REDUCERS = {Rule.SUM: sum, Rule.PER_PROCESS: sum, Rule.MAX: max, Rule.MIN: min}


def tuple_getter(indices: list[int]) -> Callable[[tuple | memoryview], tuple]:
    """itemgetter that returns a tuple for any number of indices (it returns a bare item for one)."""
    if len(indices) == 1:
        (index,) = indices
        return lambda seq: (seq[index],)
    if not indices:
        return lambda seq: ()
    return itemgetter(*indices)


class Group:
    """All files of one type prefix (`counter`, `gauge_max`...), combined by its rule."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.type = metric_type(prefix)
        self.rule = rule_for(prefix)
        self.filler = _FILLERS[self.rule]
        # key (or (key, pid) for per-process gauges) -> slot; slots are numbered in order.
        self.slots: dict = {}
        # The reader's families for these slots (render.build_families); emptied when they change.
        self.families: list = []
        self._aligners: dict[str, tuple[Layout, int, int, Callable]] = {}
        self._registered: dict[str, tuple[Layout, int]] = {}

    def reset_if_keys_vanished(self, current: list[tuple[str, Layout, str]]) -> None:
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

    def register(self, path: str, layout: Layout, pid: str) -> None:
        """Give every key of a file a slot; before any file is aligned, so all agree on slots."""
        done = self._registered.get(path)
        start = done[1] if done and done[0] is layout else 0
        self._registered[path] = (layout, len(layout.keys))
        for key in layout.keys[start:]:
            slot_key = self.slot_key(key, pid)
            if slot_key not in self.slots:
                self.slots[slot_key] = len(self.slots)
                self.families = []  # rebuilt on demand

    def aligner(self, path: str, layout: Layout, pid: str) -> Callable:
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
        getter = tuple_getter([position.get(s, missing) for s in self.slots])
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
