"""The one metric about the multiprocess files themselves: files skipped because unreadable."""

from __future__ import annotations

import functools

from prometheus_client import Counter


@functools.cache
def _unreadable_files() -> Counter:
    # Made on first use: in multiprocess mode a metric without labels writes its file as soon
    # as it exists, and most processes never skip a file.
    return Counter(
        "painel_multiprocess_unreadable_files",
        "Multiprocess metric files skipped because they could not be read, by stage.",
        ["stage"],
    )


def count_unreadable_file(stage: str) -> None:
    """stage is "scrape" (skipped for one scrape) or "merge" (set aside for good)."""
    _unreadable_files().labels(stage).inc()
