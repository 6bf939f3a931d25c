"""Panel queries run by Prometheus' own engine (promtool test rules) on known series: what a
user reads in each cell or stat."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from dashboard_checks.queries import QUERY_RESULT, TimeRange, iter_panel_queries, substitute
from grafana.generator.generate import DASHBOARDS_DIR
from local_services.prometheus import RULES_DIR
from tests.support.promtool import promtool

HOUR = TimeRange(range_seconds=3600)
APP = {"job": "django", "instance": "app:8000", "method": "GET", "tenant": "acme"}


def series(metric: str, values: str, **labels: str) -> dict:
    text = ",".join(f'{name}="{value}"' for name, value in labels.items())
    return {"series": f"{metric}{{{text}}}", "values": values}


def endpoint_series(metric: str, endpoint: str, per_minute: float, **labels: str) -> dict:
    """An hour and a minute of a counter of the app growing by `per_minute`."""
    return series(metric, f"0+{per_minute:g}x61", **APP, endpoint=endpoint, **labels)


# /fast/: 10 requests a minute under 100 ms, never slow. /report/: 5 a minute between
# 0.5 s and 1 s, every one slow.
INPUT = [
    endpoint_series("django_http_requests_total", "/fast/", 10, status="200"),
    endpoint_series("django_http_request_duration_seconds_bucket", "/fast/", 10, le="0.1"),
    endpoint_series("django_http_request_duration_seconds_bucket", "/fast/", 10, le="0.5"),
    endpoint_series("django_http_request_duration_seconds_bucket", "/fast/", 10, le="1"),
    endpoint_series("django_http_request_duration_seconds_bucket", "/fast/", 10, le="+Inf"),
    endpoint_series("django_http_request_duration_seconds_sum", "/fast/", 0.5),
    endpoint_series("django_http_request_duration_seconds_count", "/fast/", 10),
    # The middleware creates the slow counter at 0 with the endpoint's first request.
    endpoint_series("django_http_slow_requests_total", "/fast/", 0),
    endpoint_series("django_http_requests_total", "/report/", 5, status="200"),
    endpoint_series("django_http_request_duration_seconds_bucket", "/report/", 0, le="0.1"),
    endpoint_series("django_http_request_duration_seconds_bucket", "/report/", 0, le="0.5"),
    endpoint_series("django_http_request_duration_seconds_bucket", "/report/", 5, le="1"),
    endpoint_series("django_http_request_duration_seconds_bucket", "/report/", 5, le="+Inf"),
    endpoint_series("django_http_request_duration_seconds_sum", "/report/", 3.5),
    endpoint_series("django_http_request_duration_seconds_count", "/report/", 5),
    endpoint_series("django_http_slow_requests_total", "/report/", 5),
]


def rows(*pairs: tuple[str, float], method: bool = True, tenant: bool = True) -> list[dict]:
    def labels(endpoint: str) -> str:
        parts = [f'endpoint="{endpoint}"']
        parts += ['method="GET"'] if method else []
        parts += ['tenant="acme"'] if tenant else []
        return "{" + ",".join(parts) + "}"

    return [{"labels": labels(endpoint), "value": value} for endpoint, value in pairs]


# (panel, refId) -> the cells over the last hour, in any order.
EXPECTED = {
    # p95 interpolated in the bucket holding it: 0.95 x 0.1 s, and 0.5 s + 0.95 x 0.5 s.
    ("10 slowest endpoints", "A"): rows(("/fast/", 0.095), ("/report/", 0.975), tenant=False),
    # An endpoint that was never slow counts 0, not an empty cell.
    ("10 slowest endpoints", "B"): rows(("/fast/", 0), ("/report/", 300), tenant=False),
    ("10 most accessed endpoints", "A"): rows(("/fast/", 600), ("/report/", 300), tenant=False),
    ("10 most accessed endpoints", "B"): rows(("/fast/", 0.05), ("/report/", 0.7), tenant=False),
}


def panel_queries(file_name: str, time_range: TimeRange) -> dict[tuple[str, str], str]:
    board = json.loads((DASHBOARDS_DIR / file_name).read_text())
    return {(q.panel, q.ref_id): q.expr for q in iter_panel_queries(board, {}, time_range)}


def assert_prometheus_evaluates(
    tmp_path: Path,
    interval: str,
    input_series: list[dict],
    cases: list[dict],
    rule_files: tuple[Path, ...] = (),
) -> None:
    """promtool's unit test: each case's expr at its eval_time gives exactly exp_samples
    (the recording rules of `rule_files` evaluated every minute over the input)."""
    tests = {
        "rule_files": [str(path) for path in rule_files],
        "evaluation_interval": "1m",
        "tests": [{"interval": interval, "input_series": input_series, "promql_expr_test": cases}],
    }
    path = tmp_path / "panels_test.yml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False))
    done = promtool("test", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_endpoint_tables_show_p95_slow_counts_request_counts_and_averages(tmp_path):
    queries = panel_queries("requests.json", HOUR)
    # The tables read the per-minute recording rules, which record each minute a minute
    # later (range_rules_delay): at 61m the last hour's minutes are 0m to 60m.
    cases = [
        {"expr": queries[key], "eval_time": "61m", "exp_samples": samples}
        for key, samples in EXPECTED.items()
    ]
    assert_prometheus_evaluates(tmp_path, "1m", INPUT, cases, (RULES_DIR / "recording.yml",))


# (variables) -> p95 and average response time: at All the panel reads the job's rules,
# otherwise the pairs' rules; where they cover the same requests they agree. /fast/ and
# /report/ together: the 14.25th of 15 requests a minute, 0.5 + 0.5 x 4.25 / 5 in the (0.5,
# 1] bucket; /report/ alone 0.975 (written as Prometheus' floating point adds the rates).
RESPONSE_TIME = {
    "all": ({}, 0.9249999999999999, 4 / 15),
    "one tenant": ({"tenant": "acme"}, 0.9249999999999999, 4 / 15),
    "one endpoint": ({"endpoint": "/report/"}, 0.9750000000000001, 0.7),
    "both": ({"tenant": "acme", "endpoint": "/report/"}, 0.9750000000000001, 0.7),
}


@pytest.mark.parametrize("choice", RESPONSE_TIME)
def test_response_time_is_the_same_from_the_jobs_rules_and_the_pairs(tmp_path, choice):
    variables, p95, average = RESPONSE_TIME[choice]
    board = json.loads((DASHBOARDS_DIR / "requests.json").read_text())
    queries = {(q.panel, q.ref_id): q.expr for q in iter_panel_queries(board, variables, HOUR)}
    cases = [
        {
            "expr": queries[("Response time", ref_id)],
            "eval_time": "60m",
            "exp_samples": [{"labels": "{}", "value": value}],
        }
        for ref_id, value in (("A", average), ("C", p95))
    ]
    assert_prometheus_evaluates(tmp_path, "1m", INPUT, cases, (RULES_DIR / "recording.yml",))


# (panel, variables) -> the panel's lines at the hour's end. At All the panels read the rules
# without the free variable's label (per tenant, per endpoint), otherwise the pairs' rules:
# where they cover the same requests they agree. Every request is acme's; /fast/ gets 10 a
# minute, never slow, /report/ 5, every one slow (5 / 60 a second, as Prometheus' rate()
# rounds it).
REPORT_RATE = 0.08333333333333334
COARSE_OR_PAIRS = {
    "rate, all endpoints": ("Request rate by tenant", {}, [('{tenant="acme"}', 0.25)]),
    "rate, one endpoint": (
        "Request rate by tenant",
        {"endpoint": "/report/"},
        [('{tenant="acme"}', REPORT_RATE)],
    ),
    "slow, all tenants": (
        "Slow requests by endpoint",
        {},
        [('{endpoint="/fast/"}', 0), ('{endpoint="/report/"}', REPORT_RATE)],
    ),
    "slow, one tenant": (
        "Slow requests by endpoint",
        {"tenant": "acme"},
        [('{endpoint="/fast/"}', 0), ('{endpoint="/report/"}', REPORT_RATE)],
    ),
}


@pytest.mark.parametrize("choice", COARSE_OR_PAIRS)
def test_a_graph_shows_the_same_from_the_coarse_rules_and_the_pairs(tmp_path, choice):
    title, variables, lines = COARSE_OR_PAIRS[choice]
    board = json.loads((DASHBOARDS_DIR / "requests.json").read_text())
    (expr,) = [q.expr for q in iter_panel_queries(board, variables, HOUR) if q.panel == title]
    cases = [
        {
            "expr": expr,
            "eval_time": "61m",
            "exp_samples": [{"labels": labels, "value": value} for labels, value in lines],
        }
    ]
    assert_prometheus_evaluates(tmp_path, "1m", INPUT, cases, (RULES_DIR / "recording.yml",))


# PAINEL TENANT_LATENCY "per_tenant": the endpoint histogram's rules have no tenant label,
# acme's own histogram says 0.2 s on average and at most 0.5 s, /report/ 0.7 s and above.
# The job's rules are /report/'s, its only endpoint (Response time reads them at All).
ENDPOINT_HISTOGRAM = (
    ("django_http_request_duration_seconds_bucket:rate5m", "0x10", {"le": "0.5"}),
    ("django_http_request_duration_seconds_bucket:rate5m", "1x10", {"le": "1"}),
    ("django_http_request_duration_seconds_bucket:rate5m", "1x10", {"le": "+Inf"}),
    ("django_http_request_duration_seconds_sum:rate5m", "0.7x10", {}),
    ("django_http_request_duration_seconds_count:rate5m", "1x10", {}),
)
PER_TENANT = (
    [
        series(f"endpoint_method_tenant:{name}", values, job="django", endpoint="/report/", **more)
        for name, values, more in ENDPOINT_HISTOGRAM
    ]
    + [
        series(f"job:{name}", values, job="django", **more)
        for name, values, more in ENDPOINT_HISTOGRAM
    ]
    + [
        series(f"tenant:{name}", values, job="django", tenant="acme", **more)
        for name, values, more in (
            ("django_http_tenant_request_duration_seconds_bucket:rate5m", "2x10", {"le": "0.5"}),
            ("django_http_tenant_request_duration_seconds_bucket:rate5m", "2x10", {"le": "+Inf"}),
            ("django_http_tenant_request_duration_seconds_sum:rate5m", "0.4x10", {}),
            ("django_http_tenant_request_duration_seconds_count:rate5m", "2x10", {}),
        )
    ]
)


@pytest.mark.parametrize(
    ("tenant", "average", "p50"),
    [("$__all", 0.7, 0.75), ("acme", 0.2, 0.25)],  # all tenants: by endpoint; one: its own
)
def test_response_time_reads_a_tenants_own_histogram_when_latency_is_per_tenant(
    tmp_path, tenant, average, p50
):
    board = json.loads((DASHBOARDS_DIR / "requests.json").read_text())
    queries = {
        q.ref_id: q.expr
        for q in iter_panel_queries(board, {"tenant": tenant, "endpoint": "$__all"})
        if q.panel == "Response time"
    }
    cases = [
        {"expr": queries[ref_id], "eval_time": "5m", "exp_samples": [{"labels": "{}", "value": v}]}
        for ref_id, v in (("A", average), ("B", p50))
    ]
    assert_prometheus_evaluates(tmp_path, "1m", PER_TENANT, cases)


# Hourly samples from yesterday (0h) to now (24h) of the recording rules the panels read.
DAY = [
    series("job:django_http_requests:rate5m", "2x23 3", job="django"),
    series("job:django_http_requests_5xx:rate5m", "1x23 0.5", job="django"),
    series("job:django_http_request_duration_seconds_sum:rate5m", "1x23 0.75", job="django"),
    series("job:django_http_request_duration_seconds_count:rate5m", "2x23 3", job="django"),
    series(
        "job:django_http_request_duration_seconds_bucket:rate5m", "0x24", job="django", le="0.5"
    ),
    series("job:django_http_request_duration_seconds_bucket:rate5m", "2x24", job="django", le="1"),
    series(
        "job:django_http_request_duration_seconds_bucket:rate5m", "2x24", job="django", le="+Inf"
    ),
]
UP, DOWN = '{direction="▲"}', '{direction="▼"}'
# panel -> (now, yesterday, (arrow, change in percent))
DAY_OVER_DAY = {
    "Requests per second": (3, 2, (UP, 50)),
    "Server errors per second": (0.5, 1, (DOWN, -50)),
    # 0.25 s now against 0.5 s yesterday: a ratio of ratios, bracketed.
    "Average response time": (0.25, 0.5, (DOWN, -50)),
    "p95 response time": (0.975, 0.975, (UP, 0)),  # unchanged counts as up
}


def test_day_over_day_stats_show_now_yesterday_and_the_change_with_its_arrow(tmp_path):
    queries = panel_queries("health.json", TimeRange())
    cases = []
    for title, (now, yesterday, (arrow, change)) in DAY_OVER_DAY.items():
        panel = f"{title}: now and yesterday"
        for ref_id, labels, value in (
            ("A", "{}", now),
            ("B", "{}", yesterday),
            ("C", arrow, change),
        ):
            cases.append(
                {
                    "expr": queries[(panel, ref_id)],
                    "eval_time": "24h",
                    "exp_samples": [{"labels": labels, "value": value}],
                }
            )
    assert_prometheus_evaluates(tmp_path, "1h", DAY, cases)


EXPORTER = {"job": "painel-exporter", "instance": "exporter:9811"}
TASK = {**EXPORTER, "name": "t.ok", "hostname": "w1", "queue_name": "celery"}
# An hour: 45 hits and 15 misses a minute; a task succeeding 6 times a minute, never failing.
REDIS_AND_CELERY = [
    series("redis_keyspace_hits_total", "0+45x60", **EXPORTER, addr="r:6379"),
    series("redis_keyspace_misses_total", "0+15x60", **EXPORTER, addr="r:6379"),
    series("celery_task_succeeded_total", "0+6x60", **TASK),
]


def test_hit_rate_and_the_last_hours_tasks_a_task_that_never_failed_included(tmp_path):
    queries = panel_queries("redis-celery.json", TimeRange())
    expected = {
        ("Keyspace hit rate", '{addr="r:6379"}'): 0.75,
        # No failed series exists at all: the stats say 0, not "No data".
        ("Processed in the last hour", "{}"): 360,
        ("Failed in the last hour", "{}"): 0,
    }
    cases = [
        {
            "expr": queries[(panel, "A")],
            "eval_time": "60m",
            "exp_samples": [{"labels": labels, "value": value}],
        }
        for (panel, labels), value in expected.items()
    ]
    assert_prometheus_evaluates(tmp_path, "1m", REDIS_AND_CELERY, cases)


# An hour: t.ok succeeds 6 times a minute, each run 0.5 s; t.fail fails every run, so its
# runtime histogram stays at the 0 the exporter creates it with.
TASK_RUNTIMES = [
    series("celery_task_runtime_sum", "0+3x60", **TASK),
    series("celery_task_runtime_count", "0+6x60", **TASK),
    series("celery_task_runtime_sum", "0x60", **{**TASK, "name": "t.fail"}),
    series("celery_task_runtime_count", "0x60", **{**TASK, "name": "t.fail"}),
    series("celery_task_failed_total", "0+6x60", **{**TASK, "name": "t.fail"}, exception="E"),
]


def test_average_processing_time_leaves_out_a_task_that_never_succeeded(tmp_path):
    # 0 s / 0 runs is no average: the panel shows nothing for t.fail, not NaN.
    queries = panel_queries("redis-celery.json", TimeRange())
    cases = [
        {
            "expr": queries[("Average processing time", "A")],
            "eval_time": "60m",
            "exp_samples": [{"labels": '{name="t.ok"}', "value": 0.5}],
        }
    ]
    assert_prometheus_evaluates(tmp_path, "1m", TASK_RUNTIMES, cases)


CHECKER = {**EXPORTER, "target": "http://app:8000/health"}
QUIET = {**EXPORTER, "target": "http://other:8000/health"}
# A day of checks every 15 s (4 a minute, scraped every minute). From 10:00 to 12:00
# Prometheus was down: the exporter went on checking (480 checks), 240 of them failed
# while the app was down. From 16:40 to 17:40 the exporter itself was down: no checks, and
# its counters start again from 0. The other target never failed (no failure series).
UPTIME_DAY = [
    series("health_checks_total", "0+4x600 _x119 2880+4x280 _x59 0+4x380", **CHECKER),
    series("health_check_failures_total", "0x600 _x119 240x280 _x59 0x380", **CHECKER),
    series("probe_success", "1x600 _x119 1x280 _x59 1x380", **CHECKER),
    series("health_checks_total", "0+4x1440", **QUIET),
]


def test_uptime_counts_the_checks_made_while_prometheus_was_down(tmp_path):
    queries = panel_queries("health.json", TimeRange())
    made = 2400 + 480 + 1120 + 1520
    expected = [
        {"labels": f'{{target="{CHECKER["target"]}"}}', "value": 1 - 240 / made},
        {"labels": f'{{target="{QUIET["target"]}"}}', "value": 1},
    ]
    cases = [
        {
            "expr": queries[("Uptime over 24 hours", "A")],
            "eval_time": "24h",
            "exp_samples": expected,
        },
        # Sampling the gauge would have read 100%: the failed checks fell in the gap.
        {
            "expr": f'avg by (target) (avg_over_time(probe_success{{target="{CHECKER["target"]}"}}[1d]))',
            "eval_time": "24h",
            "exp_samples": [{"labels": f'{{target="{CHECKER["target"]}"}}', "value": 1}],
        },
    ]
    assert_prometheus_evaluates(tmp_path, "1m", UPTIME_DAY, cases)


def variable_expr(board: dict, name: str) -> str:
    (variable,) = [v for v in board["templating"]["list"] if v["name"] == name]
    expr = QUERY_RESULT.fullmatch(variable["query"]).group("expr")
    return substitute(expr, board, {}, {"target": "$__all"})


def test_health_history_reads_the_exporters_interval_from_its_check_counter(tmp_path):
    board = json.loads((DASHBOARDS_DIR / "health.json").read_text())
    # --interval 30: one check every 30 s, scraped every 15 s.
    checks = [series("health_checks_total", "0+0.5x80", **CHECKER)]
    cases = [
        {
            "expr": variable_expr(board, "check_interval"),
            "eval_time": "20m",
            "exp_samples": [{"labels": "{}", "value": 30}],
        },
        {
            "expr": variable_expr(board, "history_range"),
            "eval_time": "20m",
            "exp_samples": [{"labels": "{}", "value": 1500}],
        },
    ]
    assert_prometheus_evaluates(tmp_path, "15s", checks, cases)


def test_day_over_day_reads_new_when_yesterday_had_no_server_error(tmp_path):
    queries = panel_queries("health.json", TimeRange())
    change = queries[("Server errors per second: now and yesterday", "C")]
    day = [series("job:django_http_requests_5xx:rate5m", "0x23 0.5", job="django")]
    cases = [
        # One series, without an arrow, whose value is NaN: the panel maps it to "new".
        {
            "expr": f"count by (direction) (({change}) != ({change}))",
            "eval_time": "24h",
            "exp_samples": [{"labels": "{}", "value": 1}],
        },
        {
            "expr": f"count({change})",
            "eval_time": "24h",
            "exp_samples": [{"labels": "{}", "value": 1}],
        },
    ]
    assert_prometheus_evaluates(tmp_path, "1h", day, cases)


def test_error_budget_row_shows_the_budget_left_and_the_tenants_burning_it(tmp_path):
    queries = panel_queries("errors.json", TimeRange())
    rules = [
        series("job:django_http_availability:budget_remaining30d", "0.75x60", job="django"),
        series("job:django_http_latency:budget_remaining30d", "-0.5x60", job="django"),
        # 1% of acme's answers are 5xx (10 times the 0.1% budget), 0.05% of beta's, none of gamma's.
        series(
            "tenant:django_http_requests_5xx:ratio_rate1h", "0.01x60", job="django", tenant="acme"
        ),
        series(
            "tenant:django_http_requests_5xx:ratio_rate1h", "0.0005x60", job="django", tenant="beta"
        ),
        series(
            "tenant:django_http_requests_5xx:ratio_rate1h", "0x60", job="django", tenant="gamma"
        ),
    ]
    cases = [
        {
            "expr": queries[("Error budget left (30d)", ref_id)],
            "eval_time": "60m",
            "exp_samples": [{"labels": f'{{__name__="{rule}",job="django"}}', "value": value}],
        }
        for ref_id, rule, value in (
            ("A", "job:django_http_availability:budget_remaining30d", 0.75),
            ("B", "job:django_http_latency:budget_remaining30d", -0.5),
        )
    ] + [
        {
            "expr": queries[("Tenants burning the availability budget fastest (1 hour)", "A")],
            "eval_time": "60m",
            "exp_samples": [
                {"labels": '{job="django",tenant="acme"}', "value": 10},
                {"labels": '{job="django",tenant="beta"}', "value": 0.5},
            ],
        }
    ]
    assert_prometheus_evaluates(tmp_path, "1m", rules, cases)
