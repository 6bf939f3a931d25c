"""How the values of one key from several process files combine, by file type and gauge mode.

The same rule serves a scrape (live files plus merged ones) and a merge (a dead file into the
merged one), so both always agree with what prometheus_client's own collector would show.
"""

from __future__ import annotations

import enum


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


def combine(rule: Rule, old: tuple[float, float], new: tuple[float, float]) -> tuple[float, float]:
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
