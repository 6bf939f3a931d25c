"""One configuration drives rules and dashboards: rendered with a user's values (other jobs,
another threshold, a cluster label), they agree; with the defaults, single-cluster users
see no cluster variable. tests/e2e/test_fleet.py runs the same rendered files in a real
Prometheus scraping two apps."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from dashboard_checks.lint import lint
from dashboard_checks.queries import iter_panel_queries, iter_panels, query_variable_selectors
from deploy.kubernetes.render import rendered as kubernetes_rendered
from grafana.generator.generate import DASHBOARDS_DIR, main
from mixin.config import MixinConfig
from promql_checks.catalog import published_metrics
from promql_checks.expressions import selectors
from tests.support.mixin_render import USER_CONFIG, Rendered, render_with
from tests.support.promtool import promtool

# Single values pass through Grafana's substitution unescaped: easy to find in a matcher.
MARKED = {"job": "JOBVAR", "cluster": "CLUSTERVAR"}
JOB, CLUSTER = 'job=~"JOBVAR"', 'cluster=~"CLUSTERVAR"'
APP_BOARDS = {"requests.json", "errors.json", "health.json"}


@pytest.fixture(scope="module")
def user(tmp_path_factory) -> Rendered:
    return render_with(USER_CONFIG, tmp_path_factory.mktemp("user-config"))


def variables(dashboard: dict) -> dict[str, dict]:
    return {v["name"]: v for v in dashboard["templating"]["list"]}


def test_every_recording_rule_a_dashboard_reads_is_in_the_rendered_rules(user):
    read = {
        name
        for dashboard in user.dashboards().values()
        for query in iter_panel_queries(dashboard, MARKED)
        for name in {s.name for s in selectors(query.expr)}
        if name and ":" in name
    }
    assert len(read) > 10
    assert read - user.recorded() == set()


def test_every_query_selects_the_users_jobs_and_the_job_and_cluster_variables(user):
    """Raw app series: the user's app selector and $job; the app's recording rules: $job
    (they hold only the app's jobs and keep `job`); the exporter's raw series: its selector;
    everything: $cluster."""
    wrong = []
    for name, dashboard in user.dashboards().items():
        for query in iter_panel_queries(dashboard, MARKED):
            for selector in selectors(query.expr):
                metric, matchers = selector.name or "", selector.matchers
                if metric.startswith("django_http_"):
                    expected = {'job=~"shop|blog"', JOB, CLUSTER}
                elif ":" in metric and "django_http" in metric:
                    expected = {JOB, CLUSTER}
                elif ":" in metric or metric == "ALERTS":
                    expected = {CLUSTER}
                else:
                    expected = {'job="shop-exporter"', CLUSTER}
                if not expected <= matchers or any("django" in m for m in matchers - expected):
                    wrong.append(f"{name} / {query.panel} [{query.ref_id}]: {metric} {matchers}")
    assert wrong == []


def test_the_variables_list_the_users_jobs_and_clusters(user):
    for name, dashboard in user.dashboards().items():
        declared = variables(dashboard)
        cluster = declared["cluster"]
        assert cluster["multi"] and cluster["includeAll"]
        assert cluster["query"].endswith(", cluster)")
        if name in APP_BOARDS:
            job = declared["job"]
            assert job["query"] == (
                'label_values(django_http_requests_total{job=~"shop|blog", cluster=~"$cluster"}'
                ", job)"
            )
            assert job["multi"] and job["includeAll"] and job["allValue"] == ".*"
            # Variables are listed in order: cluster, then job, then what depends on them.
            names = list(declared)
            assert names.index("cluster") < names.index("job")
        else:
            assert "job" not in declared  # no app series on the board
        for selector in query_variable_selectors(dashboard):
            assert "shop" in selector, selector  # every list comes from the user's jobs


def test_the_slow_threshold_is_the_rules_le_everywhere(user):
    rules = user.rules()
    le = {
        float(bound)
        for rule in rules
        for bound in re.findall(r'le="([^"]+)"', rule["expr"])
        if "latency" in rule.get("record", rule.get("alert", ""))
    }
    assert le == {0.25}
    (high_latency,) = {r["expr"] for r in rules if r.get("alert") == "DjangoHighLatency"}
    assert "> 0.25" in high_latency
    requests = user.dashboards()["requests.json"]
    trend = next(p for p in iter_panels(requests) if p["title"] == "Response time")
    steps = trend["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["value"] for s in steps if s["color"] != "transparent"] == [0.25]
    table = next(p for p in iter_panels(requests) if p["title"] == "10 slowest endpoints")
    (organize,) = [t for t in table["transformations"] if t["id"] == "organize"]
    assert "Requests over 250 ms" in organize["options"]["renameByName"].values()
    assert "(250 ms)" in table["description"]


def test_dashboards_link_the_users_runbook_and_show_its_routing_label(user):
    runbook = USER_CONFIG["runbook_base_url"]
    for dashboard in user.dashboards().values():
        # (the other link is the one to the painel-tagged dashboards)
        assert [link["url"] for link in dashboard["links"] if link["type"] == "link"] == [runbook]
    alert_links = {
        r["annotations"]["runbook_url"].split("#")[0] for r in user.rules() if "alert" in r
    }
    assert alert_links == {runbook}
    system = user.dashboards()["system.json"]
    alerts = next(p for p in iter_panels(system) if p["title"] == "Firing alerts")
    columns = alerts["transformations"][1]["options"]["renameByName"]
    assert columns["team"] == "Team" and columns["cluster"] == "Cluster"


def test_the_users_dashboards_pass_the_linter_and_prometheus_parser(user, tmp_path):
    known = {**published_metrics(), **dict.fromkeys(user.recorded(), "gauge")}
    problems = [p for d in user.dashboards().values() for p in lint(d, known)]
    assert problems == []
    queries = [
        q.expr
        for d in user.dashboards().values()
        for q in iter_panel_queries(d, {"job": ["shop", "blog"], "cluster": "eu"})
    ]
    rules = [{"record": f"painel:query_{i}:check", "expr": e} for i, e in enumerate(queries)]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "queries", "rules": rules}]}))
    done = promtool("check", "rules", str(path), *map(str, user.rule_files))
    assert done.returncode == 0, done.stdout + done.stderr


def test_with_the_defaults_there_is_no_cluster_variable_and_app_boards_have_a_job_one():
    for path in sorted(DASHBOARDS_DIR.glob("*.json")):
        dashboard = json.loads(path.read_text())
        declared = variables(dashboard)
        assert "cluster" not in declared and "cluster" not in path.read_text()
        assert ("job" in declared) == (path.name in APP_BOARDS), path.name
        if path.name in APP_BOARDS:
            assert declared["job"]["query"] == (
                'label_values(django_http_requests_total{job="django"}, job)'
            )


def test_kubernetes_manifests_render_rules_and_dashboards_from_the_users_config():
    config = MixinConfig(**USER_CONFIG)
    texts = kubernetes_rendered(config)
    rules = next(t for name, t in texts.items() if "rules" in name)
    dashboards = next(t for name, t in texts.items() if "dashboards" in name)
    assert 'job=~"shop|blog"' in rules and "by (cluster, job" in rules
    assert 'job=~\\"shop|blog\\"' in dashboards and "$cluster" in dashboards
    assert 'job="django"' not in rules and 'job=\\"django\\"' not in dashboards


def test_the_command_line_refuses_a_bad_config_with_its_message(tmp_path, capsys):
    config_file = tmp_path / "mixin.yml"
    config_file.write_text("cluster_label: k8s-cluster\n")
    with pytest.raises(SystemExit):
        main(["--config", str(config_file), "--out", str(tmp_path / "dashboards")])
    assert "cluster_label 'k8s-cluster'" in capsys.readouterr().err
    assert not (tmp_path / "dashboards").exists()
