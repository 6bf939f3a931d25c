"""Every query of a dashboard, with Grafana's variables substituted the way Grafana would.

Grafana cannot run here, so the dashboards are proven by running their queries elsewhere:
`iter_panel_queries` yields (dashboard, panel title, refId, expr) with `$tenant`,
`${endpoint:regex}`, `$__rate_interval`, `$__range`... replaced, ready for promql-parser or a
real Prometheus. The rules follow Grafana's Prometheus data source (interpolateQueryExpr):

- a single-value variable is inserted as is (backslashes and quotes escaped);
- a multi-value or include-All variable is regex-escaped, and several values become
  `(a|b)`; "All" becomes the variable's allValue (raw) or all its known options;
- `${var:format}` applies the format (regex, pipe, raw, csv, text, queryparam not needed);
- `$__interval` is max(panel min interval, range / max data points), `$__rate_interval`
  is max($__interval + scrape interval, 4 x scrape interval), `$__range` is the
  dashboard's (or the panel's relative-time) range, all in whole seconds (Grafana also
  rounds $__interval to a "nice" step; any whole number of seconds is as valid a query).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from promql_checks.durations import parse_duration

ALL = "$__all"
DEFAULT_MAX_DATA_POINTS = 1000

# $name, ${name}, ${name:format}, [[name]] (the old syntax Grafana still accepts).
_VARIABLE = re.compile(
    r"\$(?P<plain>\w+)|\$\{(?P<braced>\w+)(?::(?P<format>\w+))?\}|\[\[(?P<old>\w+)\]\]"
)


@dataclass(frozen=True)
class TimeRange:
    """What Grafana knows when it sends a query: the time range and the scrape interval."""

    range_seconds: int = 6 * 3600
    scrape_interval_seconds: int = 15
    max_data_points: int = DEFAULT_MAX_DATA_POINTS


@dataclass(frozen=True)
class PanelQuery:
    """One query; unpacks as (dashboard, panel, ref_id, expr), `instant` says how to run it."""

    dashboard: str
    panel: str
    ref_id: str
    expr: str
    instant: bool = False  # an instant query (tables, stats), else a range query
    panel_type: str = ""  # timeseries, table, stat...
    range_seconds: int = 0  # the range Grafana asks for: the dashboard's or the panel's own
    step_seconds: int = 15  # a range query's step: the panel's $__interval

    def __iter__(self) -> Iterator[str]:
        return iter((self.dashboard, self.panel, self.ref_id, self.expr))


def _seconds(value: float) -> str:
    return f"{max(1, math.ceil(value))}s"


def regex_escape(value: str) -> str:
    """Grafana's regexEscape (the `regex` format)."""
    return re.sub(r"([\\^$*+?.()|{}\[\]/])", r"\\\1", value)


def _prometheus_regex_escape(value: str) -> str:
    """Grafana's prometheusSpecialRegexEscape: a regex escape written inside a PromQL string."""
    value = value.replace("\\", "\\\\\\\\")
    return re.sub(r"([$^*{}\[\]'+?.()|])", r"\\\\\1", value)


def _prometheus_plain_escape(value: str) -> str:
    """Grafana's prometheusRegularEscape, for single-value variables."""
    return value.replace("\\", "\\\\").replace("'", "\\\\'")


def _variable_values(variable: Mapping[str, Any], chosen: Any) -> tuple[list[str], bool]:
    """The selected values, and whether they are the raw allValue (never escaped)."""
    values = chosen if isinstance(chosen, list | tuple) else [chosen]
    if ALL in values:
        if variable.get("allValue"):
            return [variable["allValue"]], True
        options = [o["value"] for o in variable.get("options", []) if o.get("value") != ALL]
        if not options:
            raise ValueError(f"variable {variable['name']!r}: All has no allValue and no options")
        return options, False
    return [str(v) for v in values], False


def _format(variable: Mapping[str, Any], chosen: Any, fmt: str | None) -> str:
    values, is_all_value = _variable_values(variable, chosen)
    if is_all_value and fmt in (None, "regex", "pipe", "raw"):
        return values[0]
    if fmt is None:
        if not variable.get("multi") and not variable.get("includeAll"):
            return _prometheus_plain_escape(values[0])
        escaped = [_prometheus_regex_escape(v) for v in values]
        return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"
    if fmt == "regex":
        escaped = [regex_escape(v) for v in values]
        return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"
    if fmt == "pipe":
        return "|".join(values)
    if fmt in ("raw", "text"):
        return ",".join(values) if len(values) > 1 else values[0]
    if fmt == "csv":
        return ",".join(values)
    raise ValueError(f"variable format {fmt!r} is not supported")


def builtin_variables(panel: Mapping[str, Any], time_range: TimeRange) -> dict[str, str]:
    """$__interval, $__rate_interval, $__range and friends for one panel."""
    range_s = time_range.range_seconds
    if panel.get("timeFrom"):
        range_s = int(parse_duration(panel["timeFrom"]))
    min_interval = time_range.scrape_interval_seconds
    if panel.get("interval"):
        min_interval = max(min_interval, parse_duration(panel["interval"]))
    points = panel.get("maxDataPoints") or time_range.max_data_points
    interval_s = max(1, math.ceil(max(min_interval, range_s / points)))
    scrape = time_range.scrape_interval_seconds
    rate_interval_s = max(interval_s + scrape, 4 * scrape)
    return {
        "__interval": _seconds(interval_s),
        "__interval_ms": str(interval_s * 1000),
        "__rate_interval": _seconds(rate_interval_s),
        "__rate_interval_ms": str(rate_interval_s * 1000),
        "__range": _seconds(range_s),
        "__range_s": str(range_s),
        "__range_ms": str(range_s * 1000),
    }


def substitute(
    expr: str,
    dashboard: Mapping[str, Any],
    panel: Mapping[str, Any],
    variables: Mapping[str, Any] | None = None,
    time_range: TimeRange = TimeRange(),
) -> str:
    """`expr` with every variable replaced; an unknown variable is an error, never left in."""
    chosen = dict(variables or {})
    declared = {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}
    # A panel's relative time and min interval may hold variables too (Grafana replaces them).
    panel = {
        **panel,
        **{
            key: _VARIABLE.sub(lambda m: _raw_value(m, declared, chosen), panel[key])
            for key in ("timeFrom", "interval")
            if isinstance(panel.get(key), str)
        },
    }
    builtins = builtin_variables(panel, time_range)

    def replace(match: re.Match) -> str:
        name = match.group("plain") or match.group("braced") or match.group("old")
        if name in builtins:
            return builtins[name]
        if name not in declared:
            raise ValueError(f"{expr!r}: unknown variable ${name}")
        variable = declared[name]
        value = chosen.get(name, (variable.get("current") or {}).get("value"))
        if value in (None, "", []):
            raise ValueError(f"{expr!r}: no value for ${name} and no current value")
        return _format(variable, value, match.group("format"))

    return _VARIABLE.sub(replace, expr)


def _raw_value(match: re.Match, declared: Mapping[str, Any], chosen: Mapping[str, Any]) -> str:
    """A single-value variable's value as is (in a panel's relative time or interval)."""
    name = match.group("plain") or match.group("braced") or match.group("old")
    if name not in declared:
        raise ValueError(f"unknown variable ${name} in a panel option")
    value = chosen.get(name, (declared[name].get("current") or {}).get("value"))
    if isinstance(value, list | tuple):
        (value,) = value
    return str(value)


def iter_panels(dashboard: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every panel, including those inside (collapsed) rows; rows themselves are skipped."""
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def iter_panel_queries(
    dashboard: Mapping[str, Any],
    variables: Mapping[str, Any] | None = None,
    time_range: TimeRange = TimeRange(),
) -> Iterator[PanelQuery]:
    """(dashboard title, panel title, refId, expr) of every visible Prometheus target.

    `variables` maps a variable name to a value, a list of values, or "$__all"; variables
    left out take their current value from the dashboard.
    """
    for panel in iter_panels(dashboard):
        # Through substitute: a panel's interval or relative time may be a variable.
        step_ms, range_s = (
            int(substitute(name, dashboard, panel, variables, time_range))
            for name in ("$__interval_ms", "$__range_s")
        )
        for target in panel.get("targets", []):
            if target.get("hide") or not target.get("expr"):
                continue
            yield PanelQuery(
                dashboard=dashboard["title"],
                panel=panel["title"],
                ref_id=target.get("refId", ""),
                expr=substitute(target["expr"], dashboard, panel, variables, time_range),
                instant=bool(target.get("instant")),
                panel_type=panel.get("type", ""),
                range_seconds=range_s,
                step_seconds=step_ms // 1000,
            )


LABEL_VALUES = re.compile(r"\s*label_values\((?P<selector>.+),\s*(?P<label>\w+)\)\s*")
QUERY_RESULT = re.compile(r"\s*query_result\((?P<expr>.+)\)\s*")


def query_variable_selectors(dashboard: Mapping[str, Any]) -> Sequence[str]:
    """The series selectors of the dashboard's label_values() variables and the expressions
    of its query_result() ones, substituted."""
    selectors = []
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        if variable.get("type") != "query" or not isinstance(query, str):
            continue
        match = LABEL_VALUES.fullmatch(query)
        if match is not None:
            selectors.append(substitute(match.group("selector"), dashboard, {}, None))
            continue
        match = QUERY_RESULT.fullmatch(query)
        if match is None:
            raise ValueError(
                f"variable {variable['name']!r}: not label_values() nor query_result()"
            )
        selectors.append(substitute(match.group("expr"), dashboard, {}, None))
    return selectors
