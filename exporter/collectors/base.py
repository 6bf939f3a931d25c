"""The one small interface every exporter collector implements.

Shaped after node_exporter: each collector lives in its own module (or subpackage, with
its helpers) under exporter/collectors/, registers its own flags, and is built only when
enabled; the registry (exporter/collectors/__init__.py) checks that each module provides
CollectorModule. At scrape time the server calls every collector's `collect()`; one that
raises or overruns its deadline reports `painel_exporter_collector_success{collector} 0`
and the rest of /metrics is served as usual (see exporter/scrape.py).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from types import ModuleType
from typing import Any, ClassVar, Protocol

from prometheus_client.core import Metric


class Collector:
    """Base class: override `collect()`; override `start()`/`stop()` for background work.

    `collect()` runs on a scrape thread. It must not block for long: anything that can
    hang (a network round trip, a file that grows without end) either uses short timeouts
    or runs in a background thread started by `start()` whose latest result `collect()`
    returns. Raising from `collect()` marks this collector failed for this scrape only.
    """

    #: the name used in --collectors and in the `collector` label
    name: ClassVar[str] = ""
    #: True when its counters count events it saw itself (log records, task events): a new
    #: series is then held at 0 for --max-scrape-interval (painel.new_series). False for
    #: counters copied from a system that counted long before (Redis INFO, /proc), whose
    #: history must not show up as a jump.
    counts_own_events: ClassVar[bool] = True

    def start(self) -> None:
        """Start background threads (event receivers, file followers, probes)."""

    def stop(self) -> None:
        """Stop background threads; called once at shutdown."""

    def collect(self) -> Iterable[Metric]:
        raise NotImplementedError

    def status(self) -> dict[str, Any]:
        """What the landing page shows: targets (credentials masked) and the last result.

        Convention: {"targets": [{"target": masked URL or path, "result": short text}],
        any other key: value}; the page renders "targets" as a table, the rest as a list.
        """
        return {}


class CollectorModule(Protocol):
    """What every module in exporter/collectors/ provides; the registry checks it on load.

    - NAME: the collector's name.
    - add_flags(parser): add this collector's flags (long options only; the environment
      variable PAINEL_EXPORTER_<FLAG> is derived by exporter/config.py).
    - has_target(args): True when the flags name something to watch (enabled by default).
    - build(args): the Collector instances to register; raise ConfigError for bad values.
    """

    NAME: str

    def add_flags(self, parser: argparse.ArgumentParser) -> None: ...

    def has_target(self, args: argparse.Namespace) -> bool: ...

    def build(self, args: argparse.Namespace) -> list[Collector]: ...


def missing_pieces(module: ModuleType) -> list[str]:
    """The pieces of CollectorModule that `module` lacks (a function where one is due too)."""
    functions = [n for n, v in vars(CollectorModule).items() if callable(v) and n[0] != "_"]
    values = list(CollectorModule.__annotations__)
    return [n for n in values if not hasattr(module, n)] + [
        n for n in functions if not callable(getattr(module, n, None))
    ]


class ConfigError(ValueError):
    """A bad flag or value: the message says what to fix, on one line."""
