"""Hold each new counter, histogram or summary series at 0 for its first scrapes.

A series born at its first increment reaches Prometheus' first sample already holding
that increment, and rate()/increase() never count what a first sample holds. So whatever
renders a scrape remembers when it first exposed each series, and for `hold` seconds from
then renders every sample of it as 0: every Prometheus scraping at most `hold` apart
stores a 0 first, then counts the jump to the real value. Nothing of this is on the path
that increments; gauges are left as they are.

The first-exposed times live in a store: in memory for one process, or in an append-only
file that every gunicorn worker reads and writes (any worker may answer a scrape, and
workers are recycled).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence

from prometheus_client.metrics_core import Metric

log = logging.getLogger("painel.new_series")

# Samples that belong to a series and count from its first event; `_created` and gauges do not.
HELD_TYPES = frozenset({"counter", "histogram", "summary"})
SERIES_LABELS_LEFT_OUT = ("le", "quantile")
FILE_NAME = "painel_new_series.jsonl"

SeriesKey = tuple  # (family name, ((label, value), ...) sorted, without le/quantile)


def series_key(family: str, labels: dict[str, str]) -> SeriesKey:
    return (
        family,
        tuple(sorted((k, v) for k, v in labels.items() if k not in SERIES_LABELS_LEFT_OUT)),
    )


class MemoryStore:
    """First-exposed times of one process."""

    def __init__(self) -> None:
        self.times: dict[SeriesKey, float] = {}

    def first_exposed(self, key: SeriesKey, now: float) -> float:
        return self.times.setdefault(key, now)


class FileStore(MemoryStore):
    """First-exposed times shared through an append-only file of JSON lines [key, time].

    Each reader reads what others appended since its last read; a key written twice (two
    workers exposing it at once) keeps its earliest time. One small write with O_APPEND is
    atomic, so lines never interleave. Any OSError on the file falls back to memory for this
    process (logged once): /metrics must answer on a full or read-only disk.
    """

    def __init__(self, directory: str) -> None:
        super().__init__()
        self.path = os.path.join(directory, FILE_NAME)
        self._offset = 0
        self._broken = False

    def first_exposed(self, key: SeriesKey, now: float) -> float:
        known = self.times.get(key)
        if known is not None:
            return known
        if not self._broken:
            try:
                self._read_new_lines()
                known = self.times.get(key)
                if known is not None:
                    return known
                self._append(key, now)
            except OSError as exc:
                self._broken = True
                log.warning("new series times kept in memory only: %s: %s", self.path, exc)
        return super().first_exposed(key, now)

    def _read_new_lines(self) -> None:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return
        complete = data.rfind(b"\n") + 1  # a line being appended right now: next time
        for line in data[:complete].splitlines():
            try:
                (family, labels), at = json.loads(line)
                key = (family, tuple(map(tuple, labels)))
            except ValueError:
                continue
            if at < self.times.get(key, at + 1):
                self.times[key] = at
        self._offset += complete

    def _append(self, key: SeriesKey, now: float) -> None:
        line = (json.dumps([key, now], separators=(",", ":")) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


class NewSeriesHold:
    """Which series are still held at 0: exposed for the first time less than `hold` ago."""

    def __init__(self, hold: float, store: MemoryStore | None = None) -> None:
        self.hold = hold
        self.store = store if store is not None else MemoryStore()
        self._lock = threading.Lock()

    def held(self, key: SeriesKey, now: float) -> bool:
        with self._lock:
            return now - self.store.first_exposed(key, now) < self.hold

    def zero_held(
        self, series: Iterable[tuple[SeriesKey, int, int]], values: Sequence[float], now: float
    ) -> Sequence[float]:
        """`values` with values[start:end] at 0 for each (key, start, end) of a held series:
        the fast renderers' form, one dict look-up per series and no copy when none is held."""
        if self.hold <= 0:
            return values
        out = values
        first_exposed = self.store.first_exposed
        with self._lock:
            for key, start, end in series:
                if now - first_exposed(key, now) < self.hold:
                    if out is values:
                        out = list(values)
                    out[start:end] = [0.0] * (end - start)
        return out

    def apply(self, families: Iterable[Metric], now: float | None = None) -> Iterator[Metric]:
        """The families with every sample of a held series at 0 (a copy of those families)."""
        now = time.time() if now is None else now
        for family in families:
            if self.hold <= 0 or family.type not in HELD_TYPES:
                yield family
                continue
            held: dict[SeriesKey, bool] = {}
            samples = []
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    samples.append(sample)
                    continue
                key = series_key(family.name, sample.labels)
                is_held = held.get(key)
                if is_held is None:
                    is_held = held[key] = self.held(key, now)
                samples.append(sample._replace(value=0.0, exemplar=None) if is_held else sample)
            if any(held.values()):
                copy = Metric(family.name, family.documentation, family.type, family.unit)
                copy.samples = samples
                yield copy
            else:
                yield family


class HeldRegistry:
    """A registry view whose collect() holds new series (for prometheus_client's encoders)."""

    def __init__(self, registry, hold: NewSeriesHold) -> None:
        self.registry = registry
        self.hold = hold

    def collect(self) -> Iterator[Metric]:
        return self.hold.apply(self.registry.collect())
