"""The exposition text of the combined values: each line's text up to its value is built once.

prometheus_client formats every label of every line again at every scrape; here a family's
lines are planned once per set of slots (the fixed text "name{labels} " and which combined
value goes on each line), and values are formatted through a memo.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
from collections.abc import Callable, Iterable, Iterator

from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import escape_label_name, escape_metric_name
from prometheus_client.utils import floatToGoString

from painel.new_series import series_key

from .combine import Group, Rule, tuple_getter


class Family:
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
        self._series: list[tuple[tuple, int, int]] | None = None

    @property
    def series(self) -> list[tuple[tuple, int, int]]:
        """(new_series key, first line, end line) of each series, its lines being contiguous."""
        if self._series is None:
            self._series = []
            for line, (_, labels, _) in enumerate(self.samples):
                key = series_key(self.name, labels)  # labels never hold le (see add)
                if self._series and self._series[-1][0] == key:
                    self._series[-1] = (key, self._series[-1][1], line + 1)
                else:
                    self._series.append((key, line, line + 1))
        return self._series

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


def build_families(group: Group, decode: Callable[[bytes], tuple]) -> list[Family]:
    """The families of a group's slots, each line in prometheus_client's order."""
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
            family = Family(name, group.type, entries[-1][3])
            entries.sort(key=lambda e: (e[1], sorted(e[2].items())))
            for _, sample_name, labels, _ in entries:
                family.add(sample_name, labels)
            family.values = tuple_getter([e[0] for e in entries])
            families.append(family)
    return families


def _histogram_family(metric_name: str, entries: list) -> Family:
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
    family = Family(metric_name, "histogram", entries[-1][3])
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
    pick = tuple_getter(order)

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


class FormattedValues(dict):
    """Value -> "value\\n" as prometheus_client writes it; most values repeat between lines."""

    def __missing__(self, value: float) -> str:
        text = self[value] = floatToGoString(value) + "\n"
        return text


def text(
    found: Iterable[tuple[Family, list[float]]],
    formatted: FormattedValues,
    openmetrics: bool = False,
    any_escaping: bool = False,
) -> str | None:
    """The lines prometheus_client's generate_latest (or its OpenMetrics one, without the
    final # EOF) writes with the default escaping; with `any_escaping`, None when a name
    would come out differently under another escaping scheme."""
    if len(formatted) > 100_000:  # counters keep growing: keep the memo small
        formatted.clear()
    format_value = formatted.__getitem__
    out = []
    for family, values in found:
        if any_escaping and not family.legacy_names:
            return None
        out.append(family.openmetrics_header if openmetrics else family.header)
        out.extend(map(str.__add__, family.prefixes, map(format_value, values)))
    return "".join(out)


def metrics(found: Iterable[tuple[Family, list[float]]]) -> Iterator[Metric]:
    """The same families as prometheus_client Metric objects, for any registry consumer."""
    for family, values in found:
        counter = family.type == "counter"
        name = family.name[: -len("_total")] if counter else family.name
        metric = Metric(name, family.documentation, family.type)
        for (sample_name, labels, le), value in zip(family.samples, values, strict=True):
            metric.add_sample(sample_name, labels if le is None else {**labels, "le": le}, value)
        yield metric
