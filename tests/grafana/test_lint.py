"""The linter fails a dashboard for each rule it breaks (so that its silence means something)."""

from __future__ import annotations

import copy
import json

import pytest

from grafana.generate import DASHBOARDS_DIR
from grafana.lint import lint
from grafana.queries import iter_panels
from tests.support.published import published_metrics

REQUESTS = json.loads((DASHBOARDS_DIR / "requests.json").read_text())


def first_panel(dashboard: dict) -> dict:
    return next(iter_panels(dashboard))


def set_expr(expr: str):
    def change(d):
        first_panel(d)["targets"][0]["expr"] = expr

    return change


def drop_datasource_variable(d):
    d["templating"]["list"] = [v for v in d["templating"]["list"] if v["type"] != "datasource"]


BREAKAGES = {
    "no unit": (lambda d: first_panel(d)["fieldConfig"]["defaults"].pop("unit"), "has no unit"),
    "misspelt unit": (
        lambda d: first_panel(d)["fieldConfig"]["defaults"].update(unit="seconds"),
        "'seconds' is not a Grafana unit",
    ),
    "panel data source": (
        lambda d: first_panel(d).update(datasource={"type": "prometheus", "uid": "abc"}),
        "does not use $datasource",
    ),
    "target data source": (
        lambda d: first_panel(d)["targets"][0].update(datasource={"uid": "abc"}),
        "hard-coded data source",
    ),
    "no datasource variable": (drop_datasource_variable, "no `datasource` variable"),
    "variable data source": (
        lambda d: d["templating"]["list"][1].update(datasource={"uid": "abc"}),
        "does not query $datasource",
    ),
    "variable never reloaded": (
        lambda d: d["templating"]["list"][1].update(refresh=1),
        "does not reload when the time range changes",
    ),
    "fixed rate window": (
        set_expr('sum(rate(django_http_requests_total{tenant=~"$tenant"}[5m]))'),
        "must use [$__rate_interval]",
    ),
    "fixed increase window": (
        set_expr("sum(increase(django_http_requests_total[1h]))"),
        "must use [$__rate_interval] or [$__range]",
    ),
    "raw counter": (set_expr("sum(django_http_requests_total)"), "counter"),
    "unknown metric": (set_expr("sum(rate(no_such_metric_total[$__rate_interval]))"), "no one"),
    "bad promql": (set_expr("sum(rate(x[$__rate_interval])"), "does not parse"),
    "random uid": (lambda d: d.update(uid="Requests Dashboard 7f3a!"), "uid"),
    "duplicate panel id": (lambda d: first_panel(d).update(id=d["panels"][0]["id"]), "panel ids"),
    "no description": (lambda d: first_panel(d).pop("description"), "description"),
}


def test_the_committed_requests_dashboard_is_clean():
    assert lint(REQUESTS, published_metrics()) == []


@pytest.mark.parametrize("breakage", BREAKAGES, ids=list(BREAKAGES))
def test_each_rule_catches_its_breakage(breakage):
    change, message = BREAKAGES[breakage]
    broken = copy.deepcopy(REQUESTS)
    change(broken)
    problems = lint(broken, published_metrics())
    assert any(message in p for p in problems), problems
