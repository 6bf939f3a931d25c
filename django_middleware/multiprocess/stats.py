"""The one metric about the multiprocess files themselves: files skipped because unreadable."""

from __future__ import annotations

import functools

from prometheus_client import Counter


@functools.cache
def _unreadable_files() -> Counter:
    # Made on first use, not at import: only processes that read or merge the files need it.
    return Counter(
        "painel_multiprocess_unreadable_files",
        "Multiprocess metric files skipped because they could not be read, by stage.",
        ["stage"],
    )


STAGES = ("scrape", "merge")


def declare_unreadable_files() -> None:
    """Show both stages at 0 before the first skip, so increase() and alerts see the first one
    (a series born at 1 has no increase)."""
    for stage in STAGES:
        _unreadable_files().labels(stage)


def count_unreadable_file(stage: str) -> None:
    """stage is "scrape" (skipped for one scrape) or "merge" (set aside for good)."""
    _unreadable_files().labels(stage).inc()
