"""painel_metrics_dropped_total{reason}: values an app process could not record.

Drops are noted in plain per-process counts first and moved into the counter at a safe point
(`flush`, after each request and before a scrape): they happen inside prometheus_client's
value lock, which is not reentrant, so incrementing a metric there would deadlock.
An episode starts with a process's first drop, logged once, and ends, logged too, when every
file that failed takes writes again; failures of the middleware itself (not of a file) are
logged at most once a minute.
"""

from __future__ import annotations

import errno
import functools
import logging
import time

from prometheus_client import Counter

logger = logging.getLogger("painel.metrics")

# Bounded and documented in docs/multiprocess.md.
REASONS = ("no_space", "no_directory", "read_only", "damaged_file", "other")
_REASON_BY_ERRNO = {
    errno.ENOSPC: "no_space",
    errno.EDQUOT: "no_space",
    errno.ENOENT: "no_directory",
    errno.ENOTDIR: "no_directory",
    errno.EROFS: "read_only",
    errno.EACCES: "read_only",
    errno.EPERM: "read_only",
}

pending: dict[str, int] = {}
_failing: set[str] = set()  # the files of this process that could not be written
_next_middleware_log = 0.0


@functools.cache
def _counter() -> Counter:
    return Counter(
        "painel_metrics_dropped",
        "Metric writes an app process could not record (full or missing metrics directory...).",
        ["reason"],
    )


def reason_of(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return _REASON_BY_ERRNO.get(exc.errno, "other")
    return "other"


def note_drop(reason: str, source: str, detail: object) -> None:
    """Count one write to `source` (a file) that was lost; never touches a metric."""
    pending[reason] = pending.get(reason, 0) + 1
    if source not in _failing:
        if not _failing:
            logger.warning(
                "painel: dropping metrics (%s, %s: %s); recording resumes by itself when it can",
                reason,
                source,
                detail,
            )
        _failing.add(source)


def note_recorded(source: str) -> None:
    """`source`, which had failed, took a write again."""
    if source in _failing:
        _failing.discard(source)
        if not _failing:
            logger.warning("painel: recording metrics again")


def note_middleware_failure(exc: Exception) -> None:
    global _next_middleware_log
    pending["other"] = pending.get("other", 0) + 1
    now = time.monotonic()
    if now >= _next_middleware_log:
        _next_middleware_log = now + 60
        logger.error("painel: a request was not recorded", exc_info=exc)


def declare() -> None:
    """Every reason's series at 0, made while there is room so its increments need none."""
    for reason in REASONS:
        _counter().labels(reason).inc(0)


def flush() -> None:
    """Move the pending drops into the counter. Never raises."""
    drops = list(pending.items())
    pending.clear()
    try:
        for reason, count in drops:
            _counter().labels(reason).inc(count)
    except Exception:  # the counter's own write failing is already noted as a drop
        pass
