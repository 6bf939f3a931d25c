"""Multiprocess exposition under gunicorn: the collector that reads all workers' files, the hook
that handles a worker's exit, and a generate_latest that takes the fast path for them.

Same API as prometheus_client.multiprocess; see docs/multiprocess.md for the design.
- `mark_process_dead(pid)` (gunicorn's child_exit) merges the dead worker's counters,
  histograms, summaries and non-live gauges into one `<type>_merged.db` file per type and
  removes its files, so scrapes read the live workers plus one file per type.
- `MultiProcessCollector(registry, path)` reads the directory with cached layouts; its
  `collect()` works with any registry consumer, and `generate_latest(registry)` below writes
  its text without building a Sample per value.
"""

from __future__ import annotations

import contextvars
import functools
import os
import weakref
from collections.abc import Callable

from prometheus_client import CollectorRegistry
from prometheus_client import exposition as _exposition
from prometheus_client.openmetrics.exposition import UNDERSCORES
from prometheus_client.registry import REGISTRY

from . import multiprocess_files as files
from .multiprocess_lock import LOCK_NAME
from .multiprocess_merge import merge_dead_process
from .multiprocess_reader import reader_for

__all__ = [
    "MultiProcessCollector",
    "choose_encoder",
    "generate_latest",
    "mark_process_dead",
    "remove_stale_files",
]

# While generate_latest writes our collectors' text itself, prometheus_client renders the rest
# of the registry; this flag keeps our collectors out of that pass.
_rendering_fast = contextvars.ContextVar("painel_multiprocess_rendering_fast", default=False)
_collectors_by_registry: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _directory(path: str | None) -> str:
    path = path or os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path or not os.path.isdir(path):
        raise ValueError(
            f"PROMETHEUS_MULTIPROC_DIR must name an existing directory (got {path!r}): create "
            "it and export it before gunicorn starts"
        )
    return path


class MultiProcessCollector:
    """Collector for the files of prometheus_client's multiprocess mode, merged ones included."""

    def __init__(self, registry: CollectorRegistry | None, path: str | None = None) -> None:
        self._path = _directory(path)
        self._reader = reader_for(self._path)
        if registry is not None:
            registry.register(self)
            _collectors_by_registry.setdefault(registry, []).append(self)

    def collect(self):
        if _rendering_fast.get():
            return iter(())
        return self._reader.metrics()

    def text(self) -> str:
        """This collector's part of the text exposition format."""
        return self._reader.text()


def generate_latest(registry: CollectorRegistry = REGISTRY) -> bytes:
    """prometheus_client's generate_latest, with our collectors' lines written from cache."""
    ours = list(_collectors_by_registry.get(registry, ()))
    if not ours:
        return _exposition.generate_latest(registry)
    token = _rendering_fast.set(True)
    try:
        rest = _exposition.generate_latest(registry)
    finally:
        _rendering_fast.reset(token)
    return rest + "".join(collector.text() for collector in ours).encode()


def choose_encoder(accept_header: str | None) -> tuple[Callable[[CollectorRegistry], bytes], str]:
    """prometheus_client's choose_encoder, with our generate_latest for the classic text format.

    OpenMetrics and non-default escapings keep prometheus_client's encoders (slower, same data).
    """
    encoder, content_type = _exposition.choose_encoder(accept_header)
    if encoder is _exposition.generate_latest or (
        isinstance(encoder, functools.partial)
        and encoder.func is _exposition.generate_latest
        and encoder.keywords == {"escaping": UNDERSCORES}
    ):
        return generate_latest, content_type
    return encoder, content_type


def mark_process_dead(pid: int, path: str | None = None) -> None:
    """Merge a dead process's files (call it once the process has exited: child_exit).

    Then read the directory once here: gunicorn forks the next worker from this process (the
    master), so the worker starts with warm caches and its first scrape is fast too.
    """
    directory = _directory(path)
    merge_dead_process(pid, directory)
    reader_for(directory).warm_up()


def remove_stale_files(path: str) -> None:
    """Empty the directory of an earlier run's files (gunicorn's on_starting, no worker yet)."""
    suffixes = (files.DB_SUFFIX, files.CLAIMED_SUFFIX, ".tmp", ".unreadable")
    for name in os.listdir(path):
        if name.endswith(suffixes) or name == LOCK_NAME:
            os.unlink(os.path.join(path, name))
