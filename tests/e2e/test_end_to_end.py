"""The whole stack, end to end, and every panel of every dashboard against it.

One stack for the module (demo/stack.py, as scripts/stack.sh runs it, on free ports):
redis-server (broker) and another (cache), the demo app under gunicorn with 2 workers,
a Celery worker with events, painel-exporter, Alertmanager, and Prometheus with the
repository's rules (the range tables' per-interval counts recorded every 10 s instead of every
minute), scraping and evaluating every second. Alert rules are loaded from a
rewritten copy whose `for:` is 1s (tests/support/prometheus.py), so an alert fires in
seconds instead of minutes; nothing else in the rules changes.

The load is a fixed, seeded plan of calls (demo.load.plan), tallied by what came back,
sent once Prometheus is scraping: every series it touches is new then, and the stack's
new-series hold (MAX_SCRAPE_INTERVAL, --max-scrape-interval: the scrape interval) makes
`increase()` in a panel count its first events too. Totals are compared exactly with the
raw counters; panels that show `increase()` over a window are compared with the calls sent,
allowing Prometheus' documented extrapolation at both ends of the data (at most 1.1
scrape intervals each).
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from dataclasses import dataclass

import httpx
import pytest

from dashboard_checks.queries import (
    LABEL_VALUES,
    QUERY_RESULT,
    PanelQuery,
    TimeRange,
    iter_panel_queries,
    substitute,
)
from demo import load
from demo.stack import Stack
from grafana.generator.generate import BOARDS, render
from local_services.scrape import Scrape
from local_services.waiting import wait_until
from promql_checks.durations import parse_duration
from tests.e2e import yesterday
from tests.support.mixin_render import SHORT_RANGE_RULES_DELAY_SECONDS, short_interval_rule_files

pytestmark = pytest.mark.slow

PLAN_CALLS = 240
PLAN_SEED = 20
LOAD_CONCURRENCY = 4
SCRAPE_SECONDS = 1
# increase() extrapolates the data by up to 1.1 average sample intervals at each end.
EXTRAPOLATION_INTERVALS = 2 * 1.1
REPORT = "/api/v1/reports/<slug:name>/"
COUNTERS_IN_PANELS = (
    "django_http_requests_total",
    "django_http_slow_requests_total",
    "django_http_exceptions_total",
    "log_messages_total",
    "log_exceptions_total",
    "celery_task_succeeded_total",
    "celery_task_failed_total",
)


@dataclass
class Run:
    stack: Stack
    sent: load.Tally  # the plan
    cache_hits: int  # keyspace hits on the cache server during the plan (its INFO)
    keyspace: KeyspaceSampler  # the cache server's own counters over time
    load_end: float  # when the last call of the plan was answered

    @property
    def prometheus(self):
        return self.stack.prometheus

    def samples_per_series(self) -> int:
        """How many samples each counter series of the load has (at least): each began at
        the first scrape that saw it, during the plan."""
        counts = [
            self.prometheus.value(f"min(count_over_time({name}[1h]))")
            for name in COUNTERS_IN_PANELS
        ]
        return int(min(count for count in counts if count is not None))


def exporter_scrape(stack: Stack) -> Scrape:
    return Scrape(httpx.get(f"{stack.url('exporter')}/metrics", timeout=10).text)


def task_totals(tally: load.Tally) -> dict[str, int]:
    """What the worker must have done for the calls that queued tasks (202)."""
    invoices = tally.kinds[("invoice", 202)]
    captures = tally.kinds[("capture", 202)]
    syncs = tally.kinds[("sync", 202)]
    return {
        "succeeded": invoices + captures,
        "failed": syncs,
        "retried": 2 * captures,  # demo.tasks.CAPTURE_DECLINES
        "processed": invoices + captures + syncs,
    }


def error_records(tally: load.Tally) -> int:
    """Log records at ERROR the calls cause: Django's 'Internal Server Error' for every 500,
    the shop's own line for a failed checkout, Celery's for a failed task."""
    return (
        tally.count(status=500)
        + tally.kinds[("checkout-fails", 500)]
        + task_totals(tally)["failed"]
    )


def exporter_has(stack: Stack, tasks: dict[str, int], errors: int):
    def check():
        scrape = exporter_scrape(stack)
        got = {
            kind: sum(v for _, v in scrape.samples(f"celery_task_{kind}_total"))
            for kind in ("succeeded", "failed", "retried")
        }
        got["errors"] = sum(
            v for _, v in scrape.samples("log_messages_total", level="error", log="errors")
        )
        want = {k: tasks[k] for k in ("succeeded", "failed", "retried")} | {"errors": errors}
        assert got == want, f"exporter has {got}, expected {want}"
        return True

    return check


def keyspace(stack: Stack) -> tuple[int, int]:
    info = stack.cache.client().info("stats")
    return info["keyspace_hits"], info["keyspace_misses"]


class KeyspaceSampler:
    """The cache server's keyspace hits and misses as it counts them, every 0.2 s."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.samples: list[tuple[float, int, int]] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.wait(0.2):
            self.samples.append((time.time(), *keyspace(self.stack)))

    def at(self, when: float) -> tuple[int, int]:
        return next((h, m) for t, h, m in reversed(self.samples) if t <= when)

    def hit_ratio(self, start: float, end: float) -> float:
        (h0, m0), (h1, m1) = self.at(start), self.at(end)
        return (h1 - h0) / ((h1 - h0) + (m1 - m0))

    def stop(self) -> None:
        self.done.set()
        self.thread.join()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("e2e")
    stack = Stack(
        workdir,
        scrape_interval=f"{SCRAPE_SECONDS}s",
        alert_for="1s",
        probe_interval=1.0,
        rule_files=short_interval_rule_files(workdir / "rules"),
    )
    port = stack.ports["app"]
    sampler = None
    try:
        stack.start(only={"redis", "cache", "app", "celery", "exporter", "alertmanager"})
        sampler = KeyspaceSampler(stack)
        now = time.time()
        stack.prometheus.backfill(yesterday.app_openmetrics(stack.addr("app"), now))
        stack.start()  # Prometheus, scraping before the first call is sent
        yesterday.backfill_recording_rules(stack.prometheus, now)
        prometheus = stack.prometheus
        prometheus.wait_until(
            lambda: (prometheus.value("min(count_over_time(up[1m]))") or 0) >= 3,
            what="three scrapes of every target",
        )

        hits_before, _ = keyspace(stack)
        sent = load.run(
            stack.url("app"),
            load.plan(PLAN_CALLS, PLAN_SEED, port),
            duration=180,
            concurrency=LOAD_CONCURRENCY,
        )
        assert sent.failures == 0 and sent.sent == PLAN_CALLS
        load_end = time.time()
        hits_after, _ = keyspace(stack)

        total = sent.sent
        tasks = task_totals(sent)
        wait_until(
            exporter_has(stack, tasks, error_records(sent)),
            60,
            0.25,
            what="the exporter to see every task and log record",
            ignore=AssertionError,
        )
        prometheus.wait_until(
            lambda: (
                prometheus.value("sum(django_http_requests_total)") == total
                and prometheus.value("sum(celery_task_succeeded_total)") == tasks["succeeded"]
                and prometheus.value("sum(celery_task_failed_total)") == tasks["failed"]
            ),
            what="Prometheus scraped the last request and task",
        )
        # Rules evaluated on the final samples: every group has started an evaluation a
        # whole interval after they were seen, and the range rules' delay later, since they
        # read that far behind.
        prometheus.wait_for_rules_evaluated_after(
            time.time() + SCRAPE_SECONDS + SHORT_RANGE_RULES_DELAY_SECONDS
        )
        yield Run(
            stack,
            sent,
            hits_after - hits_before,
            sampler,
            load_end,
        )
    finally:
        if sampler is not None:
            sampler.stop()
        stack.stop()


def dashboards() -> list[dict]:
    """Every dashboard as Grafana gets it (tests/grafana holds grafana/dashboards/ equal)."""
    return [render(build) for build in BOARDS.values()]


def time_range(dashboard: dict) -> TimeRange:
    seconds = int(parse_duration(dashboard.get("time", {}).get("from", "now-6h")))
    return TimeRange(range_seconds=seconds, scrape_interval_seconds=SCRAPE_SECONDS)


def panel_queries() -> list[PanelQuery]:
    return [q for d in dashboards() for q in iter_panel_queries(d, time_range=time_range(d))]


def panel_query(dashboard_uid: str, title_start: str, ref_id: str, **variables) -> str:
    board = next(d for d in dashboards() if d["uid"] == dashboard_uid)
    for query in iter_panel_queries(board, variables, time_range=time_range(board)):
        if query.panel.startswith(title_start) and query.ref_id == ref_id:
            return query.expr
    raise AssertionError(f"{dashboard_uid} has no panel {title_start!r} with query {ref_id}")


def assert_counted(value: float | None, expected: int, run: Run, what: str) -> None:
    """`value` is an increase() over a window holding the whole plan: `expected` plus at most
    Prometheus' extrapolation beyond the first and last samples, 1.1 average intervals
    each, which is 2.2 / (samples - 1) of the increase."""
    assert value is not None, f"{what}: no data"
    upper = expected * (1 + EXTRAPOLATION_INTERVALS / (run.samples_per_series() - 1))
    assert expected - 1e-9 <= value <= upper + 1e-9, f"{what}: {value}, sent {expected}"


# --- every panel -------------------------------------------------------------------------


def last_point(run: Run, query: PanelQuery) -> float | None:
    """When a panel is read: a table or stat at now; a graph once the load is over, as
    Grafana draws it then (a rate over a few seconds is empty a minute later, while the graph
    still shows the load); hourly bars at their last step, the current hour's start, as
    Grafana aligns a range to its step."""
    if query.instant:
        return None
    if query.step_seconds >= 3600:
        return time.time() // query.step_seconds * query.step_seconds
    return run.load_end + 2 * SCRAPE_SECONDS


def test_every_query_of_every_panel_returns_data(run):
    empty, per_instance = [], []
    for query in panel_queries():
        result = run.prometheus.query(query.expr, last_point(run, query))
        name = f"{query.dashboard} / {query.panel} [{query.ref_id}]: {query.expr}"
        if not result:
            empty.append(name)
        # The app's panels add its instances up (docs/scaling.md): ten gunicorns behind a
        # load balancer are one request rate, not ten lines.
        if "django_http" in query.expr and any("instance" in r["metric"] for r in result):
            per_instance.append(name)
    assert not empty, "panels without data:\n" + "\n".join(empty)
    assert not per_instance, "app panels split by instance:\n" + "\n".join(per_instance)


def variable_values(run: Run, dashboard: dict, variable: dict) -> list[str]:
    """What Grafana offers for a `label_values(selector, label)` variable, or the number a
    hidden `query_result(expr)` one reads, asked as Grafana does."""
    result = QUERY_RESULT.fullmatch(variable["query"])
    if result is not None:
        expr = substitute(result["expr"], dashboard, {}, time_range=time_range(dashboard))
        # Grafana's text of each sample, `{labels} value timestamp_ms`, through the regex.
        texts = [
            "{" + ",".join(f'{k}="{v}"' for k, v in r["metric"].items()) + "}"
            f" {r['value'][1]} {int(float(r['value'][0]) * 1000)}"
            for r in run.prometheus.query(expr)
        ]
        regex = re.compile(variable["regex"].strip("/"))
        return [m[1] for text in texts if (m := regex.search(text))]
    match = LABEL_VALUES.fullmatch(variable["query"])
    assert match, f"{variable['name']}: neither label_values() nor query_result()"
    selector = substitute(match["selector"], dashboard, {}, time_range=time_range(dashboard))
    return run.prometheus.api(f"label/{match['label']}/values", **{"match[]": selector})


def test_every_panel_shows_data_for_some_single_value_of_each_variable(run):
    """Grafana's All is `.*`, which also matches series without the label: a panel filtering on a
    label its series lack looks fine with All and goes blank for any one tenant, endpoint,
    Redis or queue. For each variable, every query must return data for at least one of the
    values Grafana offers."""
    blank = []
    for board in dashboards():
        for variable in board["templating"]["list"]:
            if variable["type"] != "query":
                continue
            values = variable_values(run, board, variable)
            assert values, f"{board['title']}: ${variable['name']} offers no value"
            queries, with_data = set(), set()
            for value in values:
                chosen = {variable["name"]: [value]}
                for query in iter_panel_queries(board, chosen, time_range(board)):
                    key = (query.panel, query.ref_id)
                    queries.add(key)
                    if key not in with_data and run.prometheus.query(
                        query.expr, last_point(run, query)
                    ):
                        with_data.add(key)
            blank += [
                f"{board['title']} / {panel} [{ref_id}], whichever ${variable['name']}"
                for panel, ref_id in sorted(queries - with_data)
            ]
    assert not blank, "panels without data:\n" + "\n".join(blank)


# --- the numbers match what was sent ------------------------------------------------------


def test_requests_per_endpoint_and_tenant_match_what_was_sent(run):
    counted = {
        (r["metric"]["endpoint"], r["metric"]["tenant"]): float(r["value"][1])
        for r in run.prometheus.query("sum by (endpoint, tenant) (django_http_requests_total)")
    }
    sent: dict[tuple[str, str], int] = {}
    for (_, endpoint, tenant, _), n in run.sent.responses.items():
        sent[(endpoint, tenant)] = sent.get((endpoint, tenant), 0) + n
    assert counted == sent


def test_most_accessed_endpoints_panel_counts_the_plans_requests(run):
    expr = panel_query("painel-requests", "10 most accessed endpoints", "A")
    rows = run.prometheus.query(expr)
    assert rows
    for row in rows:
        labels = row["metric"]
        expected = run.sent.count(endpoint=labels["endpoint"], method=labels["method"])
        assert_counted(float(row["value"][1]), expected, run, f"requests to {labels}")


def test_slow_requests_are_every_report_and_the_slowest_table_shows_them(run):
    for tenant in load.TENANTS:
        reports = run.sent.count(endpoint=REPORT, tenant=tenant)
        slow = run.prometheus.value(
            f'sum(django_http_slow_requests_total{{endpoint="{REPORT}", tenant="{tenant}"}})'
        )
        assert (slow or 0) == reports, f"slow reports of {tenant}"  # none sent: no series
    # Tenants at All: the report endpoint's row counts every tenant's reports; one tenant
    # chosen, that tenant's.
    for tenant in (None, *load.TENANTS):
        choice = {"tenant": tenant} if tenant else {}
        expr = panel_query("painel-requests", "10 slowest endpoints", "B", **choice)
        shown = [r for r in run.prometheus.query(expr) if r["metric"]["endpoint"] == REPORT]
        sent = run.sent.count(endpoint=REPORT, **choice)
        if sent:
            (row,) = shown
            assert_counted(float(row["value"][1]), sent, run, f"slow reports of {tenant}")
        else:
            assert all(float(r["value"][1]) == 0 for r in shown), f"reports of {tenant}"
    assert run.sent.count(endpoint=REPORT), "the plan sent no report"

    # The table shows the 10 slowest records of the slow-request log, as logged.
    logged = [json.loads(line) for line in run.stack.slow_requests_log.read_text().splitlines()]
    # Every report is logged; on a loaded machine another endpoint may pass the threshold too.
    reports_logged = [record for record in logged if record["endpoint"] == REPORT]
    assert len(reports_logged) == run.sent.count(endpoint=REPORT)
    logged.sort(key=lambda record: record["duration_seconds"], reverse=True)
    table = run.prometheus.query(panel_query("painel-requests", "Slowest requests", "A"))
    shown = sorted(
        ((float(row["value"][1]), row["metric"]) for row in table),
        key=lambda row: row[0],
        reverse=True,
    )
    assert [duration for duration, _ in shown] == pytest.approx(
        [r["duration_seconds"] for r in logged[:10]]
    )
    fields = ("request_id", "endpoint", "method", "tenant", "user")
    tenth = logged[9]["duration_seconds"] if len(logged) >= 10 else -math.inf
    expected = {  # an anonymous user (null) reads <none>, as the README says
        tuple(r[k] or "<none>" for k in fields) for r in logged if r["duration_seconds"] > tenth
    }
    rows = {tuple(labels[k] for k in fields) for duration, labels in shown if duration > tenth}
    assert rows == expected  # a record as slow as the tenth may or may not be shown


def hourly_bars(run: Run, expr: str) -> list[float]:
    """The bars Grafana draws for the hours the run took, the current one last."""
    first = run.load_end - 600  # the stack started minutes before the load's end
    data = run.prometheus.api(
        "query_range",
        query=expr,
        start=first // 3600 * 3600,
        end=time.time() // 3600 * 3600,
        step=3600,
    )
    (series,) = data["result"]
    return [float(value) for _, value in series["values"]]


def test_errors_per_hour_match_the_server_errors_and_error_records_sent(run):
    """The bars of the hours the run took (the hour in progress, or it and the one before)
    count what was sent."""
    for ref_id, expected, what in (
        ("A", run.sent.count(status=500), "5xx per hour"),
        ("B", error_records(run.sent), "ERROR records per hour"),
    ):
        bars = hourly_bars(run, panel_query("painel-errors", "Errors per hour", ref_id))
        if len(bars) == 1:
            assert_counted(bars[0], expected, run, what)
        else:  # the run crossed an hour: each bar extrapolates to its own edge
            assert sum(bars) == pytest.approx(expected, rel=0.05), (what, bars)


def test_health_history_holds_the_last_50_checks_and_uptime_counts_them(run):
    health = next(d for d in dashboards() if d["uid"] == "painel-health")
    variables = {v["name"]: v for v in health["templating"]["list"]}
    # The stack probes every second: the hidden variables read it from the check counter.
    assert variable_values(run, health, variables["check_interval"]) == ["1"]
    assert variable_values(run, health, variables["history_range"]) == ["50"]
    chosen = {"check_interval": "1", "history_range": "50"}
    (query,) = [
        q
        for q in iter_panel_queries(health, chosen, time_range(health))
        if q.panel.startswith("Health-check history")
    ]
    assert query.step_seconds == 1
    # A stack younger than 50 checks has fewer to show: wait for a minute of them.
    run.prometheus.wait_until(
        lambda: (run.prometheus.value("min(count_over_time(probe_success[1m]))") or 0) >= 55,
        timeout=90,
        what="a minute of health checks in Prometheus",
    )
    end = time.time() // 1
    cells = run.prometheus.api("query_range", query=query.expr, start=end - 50, end=end, step=1)
    (target,) = cells["result"]
    assert len(target["values"]) == 51  # Grafana's range holds both ends: the last 50 checks
    # Uptime: 1 - failed / made, from the exporter's own counters.
    made = run.prometheus.value("sum(health_checks_total)")
    failed = run.prometheus.value("sum(health_check_failures_total)")
    uptime = run.prometheus.value(panel_query("painel-health", "Uptime over 24 hours", "A"))
    assert made and uptime == pytest.approx(1 - failed / made, abs=0.02)


def test_exception_types_are_the_ones_raised(run):
    raised = run.prometheus.query("sum by (exception) (django_http_exceptions_total)")
    refunds = run.sent.kinds[("refund", 500)]
    # A view's Http404 is an exception too (resolver 404s of unmatched paths are not).
    missing = run.sent.kinds[("missing", 404)]
    assert {r["metric"]["exception"]: float(r["value"][1]) for r in raised} == {
        "demo.errors.PaymentGatewayError": refunds,
        "django.http.response.Http404": missing,
    }
    logged = {
        r["metric"]["exception"]: float(r["value"][1])
        for r in run.prometheus.query('sum by (exception) (log_exceptions_total{log="errors"})')
    }
    assert any(name.endswith("PaymentGatewayError") and n == refunds for name, n in logged.items())
    syncs = task_totals(run.sent)["failed"]
    assert any(name.endswith("InventorySyncError") and n == syncs for name, n in logged.items())
    # The Errors board ranks the log's exception types over its 24 hours, counted from the
    # first one (increase() with the new-series hold).
    ranked = {
        r["metric"]["exception"]: float(r["value"][1])
        for r in run.prometheus.query(
            panel_query("painel-errors", "5 most frequent exception types in the logs", "A")
        )
    }
    for suffix, expected in (("PaymentGatewayError", refunds), ("InventorySyncError", syncs)):
        (shown,) = [n for name, n in ranked.items() if name.endswith(suffix)]
        assert_counted(shown, expected, run, f"{suffix} in the logs' top 5")
    views = {
        r["metric"]["exception"]: float(r["value"][1])
        for r in run.prometheus.query(
            panel_query("painel-errors", "5 most frequent exceptions raised by views", "A")
        )
        if r["metric"]["exception"] == "demo.errors.PaymentGatewayError"
    }
    assert_counted(sum(views.values()), refunds, run, "the views' PaymentGatewayError")


def test_celery_processed_and_failed_match_the_tasks_queued(run):
    tasks = task_totals(run.sent)
    processed = run.prometheus.value(panel_query("painel-redis-celery", "Processed", "A"))
    assert_counted(processed, tasks["processed"], run, "processed in the last hour")
    failed = run.prometheus.value(panel_query("painel-redis-celery", "Failed", "A"))
    assert_counted(failed, tasks["failed"], run, "failed in the last hour")
    by_exception = run.prometheus.query("sum by (name, exception) (celery_task_failed_total > 0)")
    assert [r["metric"] for r in by_exception] == [
        {"name": "demo.tasks.sync_inventory", "exception": "InventorySyncError"}
    ]


def test_redis_hit_ratio_is_the_caches(run):
    # A tenant's order list comes from the cache after its first request (misses only while
    # that first one is in flight: at most one per concurrent caller).
    lists = run.sent.count(endpoint="/api/v1/orders/")
    tenants = {t for (_, endpoint, t, _) in run.sent.responses if endpoint == "/api/v1/orders/"}
    assert len(tenants) <= lists - run.cache_hits <= len(tenants) * LOAD_CONCURRENCY
    # The panel as it looked just after the load, against the cache server's own counters.
    expr = panel_query("painel-redis-celery", "Keyspace hit rate", "A")
    window = int(re.search(r"\[(\d+)s\]", expr)[1])
    at = run.load_end + 2 * SCRAPE_SECONDS
    ratios = {r["metric"]["addr"]: float(r["value"][1]) for r in run.prometheus.query(expr, at)}
    cache_addr = run.stack.addr("cache")
    assert set(ratios) == {run.stack.addr("redis"), cache_addr}
    # The window holds the scrapes from the first to the last sample in it: compare the
    # server's own counts between those two moments.
    scraped = run.prometheus.query(
        f'redis_keyspace_hits_total{{addr="{cache_addr}"}}[{window}s]', at
    )
    first, last = scraped[0]["values"][0][0], scraped[0]["values"][-1][0]
    expected = run.keyspace.hit_ratio(first, last)
    assert math.isclose(ratios[cache_addr], expected, abs_tol=0.05), (ratios, expected)


def test_day_over_day_panels_find_yesterday_in_the_backfilled_blocks(run):
    requests_yesterday = run.prometheus.value(
        panel_query("painel-health", "Requests per second", "B")
    )
    assert requests_yesterday == pytest.approx(yesterday.expected_yesterday_rate())
    errors_yesterday = run.prometheus.value(
        panel_query("painel-health", "Server errors per second", "B")
    )
    assert errors_yesterday == pytest.approx(yesterday.expected_yesterday_rate(status_class="5"))
    mean_yesterday = run.prometheus.value(
        panel_query("painel-health", "Average response time", "B")
    )
    assert mean_yesterday == pytest.approx(yesterday.expected_yesterday_mean_duration())
    for title in ("Requests per second", "Server errors", "p95", "Average response time"):
        now, then, change = (
            # read as Grafana shows them once the load is over: the recording rules have
            # evaluated past its last samples (the fixture waits for that)
            run.prometheus.query(panel_query("painel-health", title, ref_id), at=run.load_end + 2)
            for ref_id in "ABC"
        )
        assert len(change) == 1, title
        percent = 100 * (float(now[0]["value"][1]) / float(then[0]["value"][1]) - 1)
        assert float(change[0]["value"][1]) == pytest.approx(percent), title
        assert change[0]["metric"]["direction"] == ("▲" if percent >= 0 else "▼"), title


# --- alerts (last: it stops the app) ------------------------------------------------------


def test_zz_health_alert_fires_when_the_app_stops_and_resolves_when_it_is_back(run):
    prometheus = run.prometheus
    assert "firing" not in prometheus.alert_states("HealthCheckFailing")
    run.stack.stop_component("app")
    prometheus.wait_until(
        lambda: "firing" in prometheus.alert_states("HealthCheckFailing"),
        timeout=60,
        what="HealthCheckFailing fires",
    )
    prometheus.wait_until(
        lambda: any(
            a["labels"]["alertname"] == "HealthCheckFailing"
            for a in run.stack.alertmanager.alerts()
        ),
        timeout=30,
        what="Alertmanager received HealthCheckFailing",
    )
    run.stack.start(only={"app"})
    prometheus.wait_until(
        lambda: not prometheus.alert_states("HealthCheckFailing"),
        timeout=60,
        what="HealthCheckFailing resolves",
    )
