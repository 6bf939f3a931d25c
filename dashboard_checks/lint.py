"""The rules of Grafana's dashboard-linter that painel's dashboards keep, as plain checks.

dashboard-linter is a Go tool not packaged for Debian or PyPI, so its rules that matter
here are written out: a templated Prometheus data source used by every panel, target and
variable (never a hard-coded one), query variables reloaded on time range change,
`$__rate_interval` in every rate, counters only through rate() or increase(), a valid unit,
title and description on every panel, stable unique uids and panel ids, and PromQL that
parses once the variables are substituted.

`lint(dashboard, known)` returns the problems as "title / panel: what is wrong" lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from dashboard_checks.queries import iter_panels, substitute
from promql_checks.expressions import COUNTER_FUNCTIONS, selectors

DATASOURCE_UIDS = frozenset({"$datasource", "${datasource}"})
UID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")

# Grafana unit ids (grafana-data's valueFormats/categories.ts) fit for painel's metrics: a
# unit outside this set is a typo Grafana would show as a bare number, or one to add here.
UNITS = frozenset(
    {
        "none", "short", "percent", "percentunit",
        "s", "ms", "µs", "ns", "dtdurations", "dateTimeAsIso", "dateTimeFromNow",
        "bytes", "decbytes", "Bps", "binBps", "bps",
        "reqps", "rps", "ops", "cps", "iops", "wps", "rpm", "opm", "cpm",
        "bool", "bool_yes_no", "bool_on_off", "string",
    }
)  # fmt: skip

# Grafana's `refresh` of a query variable that lists the values of the range shown, so that
# a tenant or endpoint seen only last week is there when looking at last week.
_ON_TIME_RANGE_CHANGE = 2

# Sentinel ranges that stand for Grafana's range variables while checking the rate rule.
_RATE_INTERVAL, _RANGE = 1111, 2222
_SENTINELS = {
    re.compile(r"\$(?:__rate_interval|\{__rate_interval\})(?!\w)"): _RATE_INTERVAL,
    re.compile(r"\$(?:__range|\{__range\})(?!\w)"): _RANGE,
}

# Deliberately fixed windows, as dashboard-linter's .lint exclusions: (uid, panel) -> why.
FIXED_WINDOW_EXCLUSIONS = {
    (
        "painel-errors",
        "Errors per hour (last 24 hours)",
    ): "hourly bars: increase over 1h at a 1h step",
    ("painel-redis-celery", "Processed in the last hour"): "the count of the last hour",
    ("painel-redis-celery", "Failed in the last hour"): "the count of the last hour",
}


def lint(dashboard: Mapping[str, Any], known: Mapping[str, str]) -> list[str]:
    """Every problem of `dashboard`; `known` maps metric names to types (promql_checks.catalog)."""
    title = dashboard.get("title", "?")
    problems = [f"{title}: {p}" for p in _dashboard_problems(dashboard)]
    for panel in iter_panels(dashboard):
        problems += [
            f"{title} / {panel.get('title', '?')}: {p}"
            for p in _panel_problems(dashboard, panel, known)
        ]
    return problems


def _dashboard_problems(dashboard: Mapping[str, Any]) -> Iterator[str]:
    uid = dashboard.get("uid")
    if not uid or not UID_PATTERN.match(uid):
        yield f"uid {uid!r} is not a fixed short slug"
    if dashboard.get("id") is not None:
        yield "has a database id: provisioned dashboards are identified by uid only"
    variables = dashboard.get("templating", {}).get("list", [])
    sources = [v for v in variables if v.get("type") == "datasource"]
    if not any(v.get("name") == "datasource" and v.get("query") == "prometheus" for v in sources):
        yield "no `datasource` variable of type prometheus"
    for variable in variables:
        if variable.get("type") == "query" and not _templated(variable.get("datasource")):
            yield f"variable {variable.get('name')} does not query $datasource"
        if variable.get("type") == "query" and variable.get("refresh") != _ON_TIME_RANGE_CHANGE:
            yield f"variable {variable.get('name')} does not reload when the time range changes"
    ids = [p.get("id") for p in _all_panels(dashboard)]
    if any(not isinstance(i, int) or i <= 0 for i in ids) or len(set(ids)) != len(ids):
        yield f"panel ids are not unique positive integers: {ids}"
    for path, ref in _datasource_refs(dashboard):
        if not _templated(ref):
            yield f"hard-coded data source {ref!r} at {path}"


def _panel_problems(
    dashboard: Mapping[str, Any], panel: Mapping[str, Any], known: Mapping[str, str]
) -> Iterator[str]:
    if not panel.get("title") or not panel.get("description"):
        yield "needs a title and a description"
    field_config = panel.get("fieldConfig", {})
    if not field_config.get("defaults", {}).get("unit"):
        yield "has no unit"
    for unit in _units(field_config):
        if unit not in UNITS:
            yield f"unit {unit!r} is not a Grafana unit painel uses"
    if not _templated(panel.get("datasource")):
        yield "does not use $datasource"
    targets = panel.get("targets", [])
    if not targets:
        yield "has no query"
    ref_ids = [t.get("refId") for t in targets]
    if len(set(ref_ids)) != len(ref_ids) or not all(ref_ids):
        yield f"refIds are not unique: {ref_ids}"
    exclusion = (dashboard.get("uid"), panel.get("title")) in FIXED_WINDOW_EXCLUSIONS
    for target in targets:
        if not _templated(target.get("datasource")):
            yield f"target {target.get('refId')} does not use $datasource"
        yield from (
            f"target {target.get('refId')}: {p}"
            for p in _query_problems(dashboard, panel, target.get("expr", ""), known, exclusion)
        )


def _query_problems(
    dashboard: Mapping[str, Any],
    panel: Mapping[str, Any],
    expr: str,
    known: Mapping[str, str],
    fixed_window_allowed: bool,
) -> Iterator[str]:
    marked = expr
    for variable, seconds in _SENTINELS.items():
        marked = variable.sub(f"{seconds}s", marked)
    try:
        found = list(selectors(substitute(marked, dashboard, panel)))
    except ValueError as exc:
        yield str(exc)
        return
    for selector in found:
        kind = known.get(selector.name or "")
        if kind is None:
            yield f"metric {selector.name} is published by no one (README, rules, django-prometheus)"
        if selector.function in ("rate", "irate") and selector.range_seconds != _RATE_INTERVAL:
            yield f"{selector.function}({selector.name}) must use [$__rate_interval]"
        if (
            selector.function == "increase"
            and selector.range_seconds not in (_RATE_INTERVAL, _RANGE)
            and not fixed_window_allowed
        ):
            yield f"increase({selector.name}) must use [$__rate_interval] or [$__range]"
        if kind == "counter" and selector.function not in COUNTER_FUNCTIONS:
            yield f"counter {selector.name} used outside rate()/irate()/increase()"


def _units(field_config: Mapping[str, Any]) -> Iterator[str]:
    """The panel's unit and those its overrides set (a table's columns)."""
    if field_config.get("defaults", {}).get("unit"):
        yield field_config["defaults"]["unit"]
    for override in field_config.get("overrides", []):
        for setting in override.get("properties", []):
            if setting.get("id") == "unit":
                yield setting.get("value")


def _templated(ref: Any) -> bool:
    return isinstance(ref, Mapping) and ref.get("uid") in DATASOURCE_UIDS


def _all_panels(dashboard: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def _datasource_refs(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every `datasource` value anywhere in the dashboard (panels, targets, annotations...)."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "datasource":
                yield f"{path}.{key}", value
            else:
                yield from _datasource_refs(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _datasource_refs(value, f"{path}[{i}]")
