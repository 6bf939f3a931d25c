"""The dashboards: committed JSON = generator output, lint rules, every query parses and
selects only published metrics, and each dashboard shows what the issue asks for."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest
import yaml

from dashboard_checks.lint import lint
from dashboard_checks.queries import (
    TimeRange,
    iter_panel_queries,
    iter_panels,
    query_variable_selectors,
)
from django_middleware.conf import DEFAULTS
from exporter.config import build_parser
from grafana.generator.boards.requests import ALL_MARK
from grafana.generator.generate import DASHBOARDS_DIR, rendered
from local_services.paths import REPO_ROOT
from prometheus.render_config import COMMITTED_CONFIG
from promql_checks.catalog import published_labels, published_metrics, readme_metrics
from promql_checks.expressions import metric_names, selectors, unknown_labels
from tests.grafana.contract import CONTRACT
from tests.support.promtool import promtool

PROVISIONING = REPO_ROOT / "grafana" / "provisioning"


def dashboards() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS_DIR.glob("*.json"))}


def board(uid: str) -> dict:
    return next(d for d in dashboards().values() if d["uid"] == uid)


def panel(dashboard: dict, title: str) -> dict:
    return next(p for p in iter_panels(dashboard) if p["title"] == title)


def exprs(p: dict) -> list[str]:
    return [t["expr"] for t in p["targets"]]


# Variable choices a user makes: everything, one value, several with regex characters.
VARIABLE_CHOICES = [
    {},
    {
        "job": "django",
        "tenant": "acme",
        "endpoint": "/api/v1/orders/<int:pk>/",
        "instance": "h:9811",
    },
    {
        "job": ["django", "shop.api"],
        "tenant": ["acme.io", "o'brien (eu)"],
        "endpoint": ["<unmatched>", "/a+b/"],
        "addr": ["redis:6379"],
        "queue": ["celery", "emails"],
        "target": "$__all",
    },
]
TIME_RANGES = [TimeRange(), TimeRange(range_seconds=7 * 86400, scrape_interval_seconds=30)]


def test_committed_json_is_what_the_generator_writes():
    committed = {name: path.read_text() for name, path in _files().items()}
    assert committed == rendered(), "run `python -m grafana.generator.generate` and commit the JSON"


def _files() -> dict[str, Path]:
    return {p.name: p for p in DASHBOARDS_DIR.glob("*.json")}


def test_dashboards_pass_the_dashboard_linter_rules():
    problems = [p for d in dashboards().values() for p in lint(d, published_metrics())]
    assert problems == []


def test_dashboard_and_panel_uids_are_unique_and_stable():
    uids = [d["uid"] for d in dashboards().values()]
    assert len(set(uids)) == len(uids) == 5
    assert all(uid.startswith("painel-") for uid in uids)
    # Generating twice gives the same ids: nothing random or time-based in the output.
    assert rendered() == rendered()


@pytest.mark.parametrize("choice", VARIABLE_CHOICES, ids=["all", "single", "multi"])
@pytest.mark.parametrize("time_range", TIME_RANGES, ids=["6h", "7d"])
def test_every_query_parses_as_promql_once_variables_are_substituted(choice, time_range):
    count = 0
    for dashboard in dashboards().values():
        for query in iter_panel_queries(dashboard, choice, time_range):
            assert "$" not in query.expr and "[[" not in query.expr, query
            list(selectors(query.expr))  # raises with the query when it does not parse
            count += 1
    assert count > 50


def test_every_query_passes_prometheus_own_parser(tmp_path):
    """promtool (Prometheus' Go parser) checks every query as a recording rule."""
    queries = [q for d in dashboards().values() for q in iter_panel_queries(d, VARIABLE_CHOICES[2])]
    rules = [{"record": f"painel:query_{i}:check", "expr": q.expr} for i, q in enumerate(queries)]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "queries", "rules": rules}]}))
    done = promtool("check", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_metric_a_query_uses_is_published():
    known = published_metrics()
    used: set[str] = set()
    for dashboard in dashboards().values():
        for query in iter_panel_queries(dashboard):
            used |= metric_names(query.expr)
        for selector in query_variable_selectors(dashboard):
            used |= metric_names(selector)
    assert used - set(known) == set()


def test_every_label_a_query_reads_is_a_label_of_the_metrics_it_selects():
    # With "All" selected, a misspelt `queue=~".*"` matches every series: only this catches it.
    labels_of = published_labels()
    assert unknown_labels('sum by (queue) (celery_queue_length{queue=~".*"})', labels_of) == {
        "queue"
    }
    # ALL_MARK is on no series by design: it tells "All" (.*) from chosen values.
    wrong = [
        f"{query.dashboard} / {query.panel} [{query.ref_id}]: {sorted(unknown)}"
        for dashboard in dashboards().values()
        for query in iter_panel_queries(dashboard)
        if (unknown := unknown_labels(query.expr, labels_of) - {ALL_MARK})
    ]
    assert wrong == []


def test_provisioning_names_a_fixed_datasource_uid_and_the_dashboards_folder():
    sources = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())
    (source,) = sources["datasources"]
    assert source["type"] == "prometheus" and source["uid"] == "painel-prometheus"
    assert source["isDefault"] is True
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "painel.yml").read_text())
    assert providers["providers"][0]["type"] == "file"
    assert providers["providers"][0]["options"]["path"]
    for dashboard in dashboards().values():
        names = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert names["datasource"]["type"] == "datasource"


def test_requests_dashboard_has_the_panels_and_variables_the_issue_lists():
    requests = board("painel-requests")
    variables = {v["name"]: v for v in requests["templating"]["list"]}
    assert variables["tenant"]["multi"] and variables["tenant"]["includeAll"]
    assert variables["endpoint"]["includeAll"]
    trend = panel(requests, "Response time")
    assert [t["legendFormat"] for t in trend["targets"]] == ["average", "p50", "p95", "p99"]
    slowest = exprs(panel(requests, "10 slowest endpoints"))
    assert "topk(10" in slowest[0] and "0.95" in slowest[0]
    assert "django_http_slow_requests" in slowest[1]
    # B lists every endpoint's slow requests; the table keeps the rows of the 10 p95s (A).
    (keep_a,) = [
        t
        for t in panel(requests, "10 slowest endpoints")["transformations"]
        if t["id"] == "filterByValue"
    ]
    assert keep_a["options"]["type"] == "exclude"
    assert keep_a["options"]["filters"] == [
        {"fieldName": "Value #A", "config": {"id": "isNull", "options": {}}}
    ]
    assert "topk(10" in exprs(panel(requests, "10 most accessed endpoints"))[0]
    table = panel(requests, "Slowest requests (last 24 hours)")
    assert table["type"] == "table"
    assert all(t["instant"] and t["format"] == "table" for t in table["targets"])
    assert [m for e in exprs(table) for m in metric_names(e)] == [
        "painel_slow_request_duration_seconds",
        "painel_slow_request_timestamp_seconds",
    ]
    assert table["transformations"][0]["id"] == "merge"
    columns = table["transformations"][1]["options"]["renameByName"].values()
    assert {"Endpoint", "Method", "Tenant", "User", "Time", "Duration"} <= set(columns)
    assert any('status=~"5.."' in e for e in exprs(panel(requests, "4xx and 5xx responses")))
    assert "exception" in exprs(panel(requests, "Exceptions by type"))[0]


def test_response_time_draws_the_middlewares_default_slow_threshold():
    trend = panel(board("painel-requests"), "Response time")
    steps = trend["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["value"] for s in steps if s["color"] != "transparent"] == [
        DEFAULTS["SLOW_REQUEST_THRESHOLD"]
    ]
    assert trend["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "dashed"


def test_errors_dashboard_shows_hourly_bars_side_by_side_and_the_top_5_exceptions():
    errors = board("painel-errors")
    hourly = panel(errors, "Errors per hour (last 24 hours)")
    # A bar chart of one frame joined on time: the two series' bars side by side per hour.
    assert hourly["type"] == "barchart" and hourly["options"]["xField"] == "Time"
    assert hourly["options"]["stacking"] == "none"
    assert [t["id"] for t in hourly["transformations"]] == ["joinByField"]
    assert hourly["timeFrom"] == "24h" and hourly["interval"] == "1h"
    # Each step counts the hour after it: the last step (the current hour) is not empty.
    assert all("increase(" in e and "[1h] offset -1h)" in e for e in exprs(hourly))
    logs = exprs(panel(errors, "5 most frequent exception types in the logs"))[0]
    assert "topk(5," in logs and "log_exceptions_total" in logs
    views = exprs(panel(errors, "5 most frequent exceptions raised by views"))[0]
    assert views.startswith("topk(5,") and "django_http_exceptions_total" in views
    assert "by (level)" in exprs(panel(errors, "Log records by level"))[0]
    variables = {v["name"] for v in errors["templating"]["list"]}
    assert {"tenant", "endpoint"} <= variables


def test_tables_link_to_the_requests_board_filtered_on_the_clicked_row():
    for uid, title, fields, kept in (
        # rows are endpoints of the chosen tenants: the link keeps the tenants chosen
        ("painel-requests", "10 slowest endpoints", ("endpoint",), ("tenant",)),
        ("painel-errors", "5 most frequent exceptions raised by views", ("endpoint",), ()),
    ):
        (link,) = panel(board(uid), title)["fieldConfig"]["defaults"]["links"]
        assert link["url"].startswith("/d/painel-requests/")
        for field in fields:
            assert f"var-{field}=${{__data.fields.{field}:percentencode}}" in link["url"]
        for variable in kept:
            assert f"${{{variable}:queryparam}}" in link["url"]
        assert "${__url_time_range}" in link["url"]
        # The link's field names are columns the table's queries return.
        assert all(
            field in panel(board(uid), title)["transformations"][-1]["options"]["renameByName"]
            for field in fields
        )


def test_every_dashboard_links_to_the_others_and_shows_firing_alerts():
    for dashboard in dashboards().values():
        (link,) = [link for link in dashboard["links"] if link["type"] == "dashboards"]
        assert link["tags"] == ["painel"] and link["keepTime"] and link["includeVars"]
        assert "painel" in dashboard["tags"]
        (alerts,) = dashboard["annotations"]["list"]
        assert alerts["expr"] == 'ALERTS{alertstate="firing"}'
        assert alerts["datasource"]["uid"] == "${datasource}"


def test_graphs_of_5_minute_rules_average_each_step():
    """At long ranges Grafana's step outgrows the rules' interval: a graph reading a rule
    as is would show one sample per step and skip the rest."""
    bare = []
    for dashboard in dashboards().values():
        for p in iter_panels(dashboard):
            for target in p.get("targets", []):
                if target.get("instant"):
                    continue
                for found in selectors(
                    target["expr"].replace("$__rate_interval", "1m").replace("$__range", "1h")
                ):
                    if (
                        found.name
                        and found.name.endswith(":rate5m")
                        and found.range_seconds is None
                    ):
                        bare.append(f"{dashboard['title']} / {p['title']}: {found.name}")
    assert bare == []


def test_system_dashboard_draws_the_80_percent_threshold_and_lists_firing_alerts():
    system = board("painel-system")
    for title in ("CPU", "Memory", "Disk"):
        p = panel(system, title)
        steps = [s["value"] for s in p["fieldConfig"]["defaults"]["thresholds"]["steps"]]
        assert 0.8 in steps
        assert p["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] != "off"
        assert len(p["targets"]) == 2  # the value and its trend
    assert 'ALERTS{alertstate="firing"}' in exprs(panel(system, "Firing alerts"))


def test_redis_hit_rate_is_a_ratio_of_summed_rates():
    (expr,) = exprs(panel(board("painel-redis-celery"), "Keyspace hit rate"))
    assert "avg" not in expr
    assert expr.count("sum by (addr) (rate(") == 3


def test_health_history_spans_50_checks_at_the_exporters_interval_and_uptime_counts_checks():
    health = board("painel-health")
    variables = {v["name"]: v for v in health["templating"]["list"]}
    history = panel(health, "Health-check history (last 50 checks)")
    assert history["type"] == "state-timeline"
    assert exprs(history) == ['probe_success{job="painel-exporter", target=~"$target"}']
    # Step and span come from the check counter: one cell per check whatever --interval is.
    assert history["interval"] == "${check_interval}s"
    assert history["timeFrom"] == "${history_range}s"
    assert history["maxDataPoints"] == 50
    interval, span = variables["check_interval"], variables["history_range"]
    assert "health_checks_total" in interval["query"] and interval["hide"] == 2
    assert (
        span["query"]
        == interval["query"].replace("query_result(", "query_result(50 * (", 1)[:-1] + "))"
    )
    default = build_parser([]).get_default("interval")
    assert int(interval["current"]["value"]) == default
    assert int(span["current"]["value"]) == 50 * default
    for title in ("Uptime over 24 hours", "Uptime over 7 days"):
        (expr,) = exprs(panel(health, title))
        assert "health_check_failures_total" in expr and "health_checks_total" in expr
        assert "probe_success" not in expr
    comparisons = [p for p in iter_panels(health) if p["title"].endswith("now and yesterday")]
    assert len(comparisons) == 4
    for p in comparisons:
        now, yesterday, change = exprs(p)
        assert "offset 1d" not in now and "offset 1d" in yesterday
        assert "▲" in change and "▼" in change


def test_the_redis_board_graphs_the_ping_round_trip():
    (expr,) = exprs(panel(board("painel-redis-celery"), "PING round trip"))
    assert metric_names(expr) == {"redis_latency_seconds"}


def test_compose_mounts_the_dashboards_where_the_provider_reads_them():
    compose_file = REPO_ROOT / "docker-compose.yml"
    if not compose_file.exists():
        pytest.skip("no docker-compose.yml")
    volumes = yaml.safe_load(compose_file.read_text())["services"]["grafana"]["volumes"]
    mounts = dict(v.split(":")[:2] for v in volumes if v.startswith("./"))
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "painel.yml").read_text())
    assert mounts["./grafana/dashboards"] == providers["providers"][0]["options"]["path"]
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"


def test_the_sdk_is_made_for_the_grafana_compose_runs_11_or_newer():
    """grafana-foundation-sdk versions read `<build>!<Grafana version>`: the dashboards' JSON
    model is the one the Grafana in docker-compose.yml loads."""
    sdk = version("grafana-foundation-sdk").split("!")[-1]
    image = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]["grafana"]
    grafana = image["image"].rsplit(":", 1)[1]
    assert int(sdk.split(".")[0]) >= 11
    assert sdk.split(".")[:2] == grafana.split(".")[:2]


def test_the_datasource_reaches_composes_prometheus_at_its_scrape_interval():
    """Grafana's $__rate_interval is 4 x the data source's timeInterval: it must be the
    scrape interval, or rates over too short a window come out empty."""
    (source,) = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    config = yaml.safe_load(COMMITTED_CONFIG.read_text())
    assert source["jsonData"]["timeInterval"] == config["global"]["scrape_interval"]
    services = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]
    assert httpx.URL(source["url"]).host in services


def test_the_readme_documents_every_metric_of_the_shared_contract_with_its_type():
    documented = readme_metrics()
    for kind, names in CONTRACT.items():
        for name in names:
            assert documented.get(name) == kind, f"{name}: README says {documented.get(name)}"
