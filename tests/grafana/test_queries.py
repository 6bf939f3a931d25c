"""Grafana's variable substitution, as dashboard_checks/queries.py reproduces it."""

from __future__ import annotations

import pytest

from dashboard_checks.queries import TimeRange, iter_panel_queries, substitute

DASHBOARD = {
    "title": "t",
    "templating": {
        "list": [
            {"name": "datasource", "type": "datasource", "query": "prometheus"},
            {
                "name": "tenant",
                "type": "query",
                "multi": True,
                "includeAll": True,
                "allValue": ".*",
                "current": {"value": "$__all"},
            },
            {"name": "single", "type": "custom", "current": {"value": "a.b"}},
            {
                "name": "listed",
                "type": "custom",
                "includeAll": True,
                "options": [{"value": "$__all"}, {"value": "x"}, {"value": "y.z"}],
                "current": {"value": "$__all"},
            },
        ]
    },
    "panels": [
        {
            "title": "p",
            "type": "timeseries",
            "targets": [
                {"refId": "A", "expr": 'rate(m{tenant=~"$tenant"}[$__rate_interval])'},
                {"refId": "B", "expr": "hidden", "hide": True},
            ],
        },
        {
            "type": "row",
            "panels": [
                {
                    "title": "q",
                    "timeFrom": "24h",
                    "targets": [{"refId": "A", "expr": "x[$__range]"}],
                }
            ],
        },
    ],
}


def sub(expr: str, variables=None, panel=None, time_range=None) -> str:
    return substitute(expr, DASHBOARD, panel or {}, variables, time_range or TimeRange())


def test_all_becomes_the_all_value_and_a_current_value_is_the_default():
    assert sub("$tenant") == ".*"
    assert sub("${tenant}", {"tenant": ["$__all"]}) == ".*"
    assert sub("[[single]]") == "a.b"  # single-value: inserted as is


def test_multi_values_are_regex_escaped_for_a_promql_string_and_joined():
    assert sub("$tenant", {"tenant": ["acme.io", "beta"]}) == r"(acme\\.io|beta)"
    assert sub("$tenant", {"tenant": "a+b"}) == r"a\\+b"
    assert sub("${tenant:regex}", {"tenant": ["a.b", "c"]}) == r"(a\.b|c)"
    assert sub("${tenant:pipe}", {"tenant": ["a.b", "c"]}) == "a.b|c"
    assert sub("${tenant:csv}", {"tenant": ["a", "c"]}) == "a,c"


def test_all_without_an_all_value_joins_the_known_options():
    assert sub("$listed") == r"(x|y\\.z)"


def test_interval_variables_follow_grafana():
    assert sub("$__rate_interval") == "60s"  # 4 x the 15 s scrape interval
    week = TimeRange(range_seconds=7 * 86400, scrape_interval_seconds=15, max_data_points=1000)
    assert sub("$__interval", time_range=week) == "605s"
    assert sub("$__rate_interval", time_range=week) == "620s"
    assert sub("$__range_s $__range_ms", panel={"timeFrom": "1h"}) == "3600 3600000"
    assert sub("$__interval", panel={"interval": "1h"}) == "3600s"


def test_unknown_variables_and_formats_are_errors_not_left_in_the_query():
    with pytest.raises(ValueError, match="unknown variable"):
        sub("$nope")
    with pytest.raises(ValueError, match="format"):
        sub("${tenant:percentencode}", {"tenant": "a"})


def test_iter_panel_queries_walks_rows_skips_hidden_targets_and_applies_time_from():
    queries = list(iter_panel_queries(DASHBOARD, {"tenant": "acme"}))
    assert [tuple(q) for q in queries] == [
        ("t", "p", "A", 'rate(m{tenant=~"acme"}[60s])'),
        ("t", "q", "A", "x[86400s]"),
    ]
    assert [q.instant for q in queries] == [False, False]
