"""The Requests tables' queries, run by Prometheus' own engine (promtool test rules) on
known series: what a user reads in each cell."""

from __future__ import annotations

import json

import yaml

from grafana.generate import DASHBOARDS_DIR
from grafana.queries import TimeRange, iter_panel_queries
from tests.prometheus.promtool import promtool

HOUR = TimeRange(range_seconds=3600)
LABELS = 'job="django",instance="app:8000",method="GET",tenant="acme"'


def series(metric: str, endpoint: str, per_minute: float, **extra: str) -> dict:
    labels = LABELS + f',endpoint="{endpoint}"' + "".join(f',{k}="{v}"' for k, v in extra.items())
    return {"series": f"{metric}{{{labels}}}", "values": f"0+{per_minute:g}x60"}


# /fast/: 10 requests a minute under 100 ms, never slow. /report/: 5 a minute between
# 0.5 s and 1 s, every one slow.
INPUT = [
    series("django_http_requests_total", "/fast/", 10, status="200"),
    series("django_http_request_duration_seconds_bucket", "/fast/", 10, le="0.1"),
    series("django_http_request_duration_seconds_bucket", "/fast/", 10, le="+Inf"),
    series("django_http_request_duration_seconds_sum", "/fast/", 0.5),
    series("django_http_request_duration_seconds_count", "/fast/", 10),
    series("django_http_requests_total", "/report/", 5, status="200"),
    series("django_http_request_duration_seconds_bucket", "/report/", 0, le="0.5"),
    series("django_http_request_duration_seconds_bucket", "/report/", 5, le="1"),
    series("django_http_request_duration_seconds_bucket", "/report/", 5, le="+Inf"),
    series("django_http_request_duration_seconds_sum", "/report/", 3.5),
    series("django_http_request_duration_seconds_count", "/report/", 5),
    series("django_http_slow_requests_total", "/report/", 5),
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
    ("10 slowest endpoints", "A"): rows(("/fast/", 0.095), ("/report/", 0.975)),
    # An endpoint that was never slow counts 0, not an empty cell.
    ("10 slowest endpoints", "B"): rows(("/fast/", 0), ("/report/", 300)),
    ("10 most accessed endpoints", "A"): rows(("/fast/", 600), ("/report/", 300), tenant=False),
    ("10 most accessed endpoints", "B"): rows(("/fast/", 0.05), ("/report/", 0.7), tenant=False),
}


def test_the_endpoint_tables_show_p95_slow_counts_request_counts_and_averages(tmp_path):
    board = json.loads((DASHBOARDS_DIR / "requests.json").read_text())
    queries = {(q.panel, q.ref_id): q.expr for q in iter_panel_queries(board, {}, HOUR)}
    cases = [
        {"expr": queries[key], "eval_time": "60m", "exp_samples": samples}
        for key, samples in EXPECTED.items()
    ]
    tests = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": INPUT, "promql_expr_test": cases}],
    }
    path = tmp_path / "tables_test.yml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False))
    done = promtool("test", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
