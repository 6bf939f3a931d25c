"""A long-term store end to end: two hosts' Prometheus agents -> VictoriaMetrics <- vmalert.

Two "hosts", each the demo's app (gunicorn), Celery worker, two Redis servers and
painel-exporter (demo/stack.py without its Prometheus), each scraped every second by its own
Prometheus in agent mode (deploy/victoriametrics/prometheus-agent.yml, rendered for its
ports) that remote_writes everything to one VictoriaMetrics with the external label
`host`. vmalert evaluates painel's recording and alert rules (prometheus/rules/, unchanged)
against the store every second, writes the recorded series and ALERTS back, and sends
alerts to an Alertmanager. The store and vmalert run with the flags of
deploy/victoriametrics/*.default, local addresses and the test's timings replaced.

Yesterday is backfilled as an operator would: the app's raw series imported into the store
(/api/v1/import/prometheus), then the recording rules replayed over that window
(vmalert -replay.*), so the day-over-day panels have a yesterday too.

Then known traffic goes to both hosts, and every panel query of every dashboard
(grafana/dashboards/*.json, whatever panels and variables they have, each variable on All)
is asked of the store, as Grafana would ask its Prometheus data source: each answers with
data, and the counts are what was sent. MetricsQL's increase() does not extrapolate: over a
window that holds a series from its first sample (0, thanks to the new-series hold), it is
the exact count, where Prometheus' may be up to 2.2 scrape intervals' worth higher.
"""

from __future__ import annotations

import atexit
import functools
import json
import re
import shutil
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from dashboard_checks.queries import (
    ALL,
    QUERY_RESULT,
    PanelQuery,
    TimeRange,
    iter_panel_queries,
    substitute,
)
from demo import load
from demo.stack import Stack
from grafana.generator.generate import DASHBOARDS_DIR
from local_services.prometheus import AlertmanagerServer, PrometheusServer, repository_rule_files
from local_services.victoria_metrics import VictoriaMetricsServer, VMAlert, replay
from local_services.waiting import wait_until
from prometheus.rules_generator.recording import TENANT_DURATION
from promql_checks.durations import parse_duration
from tests.e2e import yesterday
from tests.e2e.test_end_to_end import error_records, exporter_has, task_totals
from tests.support.mixin_render import short_interval_rule_files

pytestmark = pytest.mark.slow

SCRAPE_SECONDS = 1
# host name -> (calls, seed): different plans, so that a count mixed up between hosts shows.
HOSTS = {"web-1": (120, 31), "web-2": (80, 32)}
HOST_COMPONENTS = {"redis", "cache", "app", "celery", "exporter"}
LOAD_CONCURRENCY = 4
# The store as a test needs it: a sample is queryable as soon as it is written.
STORE_FLAGS = {"search.latencyOffset": "0s", "search.disableCache": "true"}
VMALERT_FLAGS = {"evaluationInterval": f"{SCRAPE_SECONDS}s", "remoteWrite.flushInterval": "1s"}


@dataclass
class Host:
    name: str
    stack: Stack
    agent: PrometheusServer
    sent: load.Tally | None = None


@dataclass
class Pipeline:
    store: VictoriaMetricsServer
    vmalert: VMAlert
    alertmanager: AlertmanagerServer
    hosts: list[Host]
    began: float  # when the hosts' agents started sending
    now: float  # when yesterday is 1 day before; the panels are read at `settled`
    settled: float  # every sample is in, every rule evaluated past it
    drawn: float  # when graphs are read: every sample in, a scrape later (before `settled`)

    def sent(self) -> list[load.Tally]:
        return [host.sent for host in self.hosts]


def milliseconds(openmetrics: str) -> str:
    """OpenMetrics samples (timestamps in seconds) as Prometheus text (milliseconds)."""
    lines = []
    for line in openmetrics.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        sample, ts = line.rsplit(" ", 1)
        lines.append(f"{sample} {round(float(ts) * 1000)}")
    return "\n".join(lines) + "\n"


# The agents' remote_write batches up to 5 s, more on a loaded machine (10 s lost half a
# table's requests once in a full suite): the range tables' counts read the raw series this
# far behind (MixinConfig.range_rules_delay), VictoriaMetrics' own default latency offset,
# so that each evaluation reads what the previous one will be compared with, every sample
# arrived.
RANGE_RULES_DELAY_SECONDS = 30


@functools.cache
def live_rule_files() -> list[Path]:
    """The rules vmalert evaluates live: the range tables' counts every 10 s instead of every
    minute (SHORT_RANGE_RULES), so that they are recorded past the load within seconds.
    The replay of yesterday keeps the committed files (its panels read none of those)."""
    out = Path(tempfile.mkdtemp(prefix="painel-vm-rules-"))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    return short_interval_rule_files(out, range_rules_delay=f"{RANGE_RULES_DELAY_SECONDS}s")


def recording_rules_only(workdir: Path) -> Path:
    """painel's recording rules without its alerts: what a replay backfills."""
    groups = []
    for path in repository_rule_files():
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", []):
            rules = [rule for rule in group.get("rules", []) if "record" in rule]
            if rules:
                groups.append({**group, "rules": rules})
    out = workdir / "recording.yml"
    out.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return out


def backfill_yesterday(
    store: VictoriaMetricsServer, hosts: list[Host], workdir: Path, now: float
) -> None:
    """Each host's app at this time yesterday, then the recording rules over it."""
    for host in hosts:
        text = yesterday.app_openmetrics(host.stack.addr("app"), now)
        store.import_prometheus(milliseconds(text), {"host": host.name})
    then = now - yesterday.DAY
    store.wait_until(
        lambda: store.value("count(count by (host) (django_http_requests_total))", then) == 2,
        what="yesterday's samples of both hosts in the store",
    )
    workdir.mkdir(parents=True, exist_ok=True)
    # Rules chained on recorded series would need -replay.rulesDelay (default 1s per rule);
    # the day-over-day panels read first-level recorded series only.
    replay(
        workdir,
        store.url,
        [recording_rules_only(workdir)],
        start=then - yesterday.HALF_WINDOW + 5 * 60,
        end=then + yesterday.HALF_WINDOW,
        interval=f"{yesterday.STEP}s",
        extra=["-replay.rulesDelay=0s"],
    )
    store.wait_until(
        lambda: store.value("sum(job:django_http_requests:rate5m)", then),
        what="yesterday's recorded series in the store",
    )


def send_load(hosts: list[Host]) -> None:
    """Each host's plan, both at once, as two app servers behind one balancer would see."""

    def run(host: Host, calls: int, seed: int) -> None:
        port = host.stack.ports["app"]
        host.sent = load.run(
            host.stack.url("app"),
            load.plan(calls, seed, port),
            duration=180,
            concurrency=LOAD_CONCURRENCY,
        )

    threads = [threading.Thread(target=run, args=(host, *HOSTS[host.name])) for host in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for host in hosts:
        assert host.sent is not None and host.sent.failures == 0, host.name
        assert host.sent.sent == HOSTS[host.name][0], host.name


RECORDED = re.compile(r"\b[a-z_]+:[a-z0-9_]+:[a-z0-9_]+\b")  # level:metric:operations


def recorded_names_in_panels() -> set[str]:
    """The recorded series the dashboards read (but those of the per-tenant latency
    histogram, which the demo app does not publish: TENANT_LATENCY is per endpoint)."""
    return {
        name
        for query in panel_queries()
        for name in RECORDED.findall(query.expr)
        if TENANT_DURATION not in name
    }


def labels_without_name(series: dict) -> dict:
    return {k: v for k, v in series["metric"].items() if k != "__name__"}


def make_host(name: str, workdir: Path, store: VictoriaMetricsServer) -> Host:
    """One host, not started: the demo's services, and its own agent sending to the store
    as `name` (the stack's ports are chosen already)."""
    stack = Stack(workdir / name, scrape_interval=f"{SCRAPE_SECONDS}s", probe_interval=1)
    agent = PrometheusServer(
        stack.workdir / "agent",
        django=[stack.addr("app")],
        exporter=[stack.addr("exporter")],
        interval=f"{SCRAPE_SECONDS}s",
        agent=True,
        external_labels={"host": name},
        remote_write=[store.write_url],
    )
    return Host(name, stack, agent)


def start_host(host: Host) -> None:
    host.stack.start(only=HOST_COMPONENTS)
    host.agent.start()


def stop_all(services: list) -> None:
    """Stop every service at once (each stack stops its own in order), errors reported."""
    with ThreadPoolExecutor(len(services) or 1) as pool:
        for service, done in zip(services, pool.map(_stop, services), strict=True):
            if done is not None:
                print(f"stopping {service}: {done}")


def _stop(service) -> Exception | None:
    try:
        service.stop()
    except Exception as exc:  # keep stopping the others
        return exc
    return None


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("victoriametrics")
    started: list = []

    def start(service):
        started.append(service)
        service.start()
        return service

    try:
        store = start(VictoriaMetricsServer(workdir / "victoria-metrics", overrides=STORE_FLAGS))
        alertmanager = start(AlertmanagerServer(workdir / "alertmanager"))
        vmalert = start(
            VMAlert(
                workdir / "vmalert",
                store.url,
                alertmanager.url,
                rule_files=live_rule_files(),
                overrides=VMALERT_FLAGS,
            )
        )
        hosts = [make_host(name, workdir, store) for name in HOSTS]
        started += [h.stack for h in hosts] + [h.agent for h in hosts]  # stop() is safe unstarted
        with ThreadPoolExecutor(len(hosts)) as pool:
            starting = [pool.submit(start_host, h) for h in hosts]
            # Yesterday needs only the apps' addresses: backfilled while the hosts start.
            now = time.time()
            backfill_yesterday(store, hosts, workdir / "replay", now)
            for future in starting:
                future.result()
        began = time.time()
        store.wait_until(
            lambda: (
                store.value("count(count by (host) (up))") == 2
                and (store.value("min(count_over_time(up[1m]))") or 0) >= 3
            ),
            what="three scrapes of every target of both hosts in the store",
        )

        send_load(hosts)
        for host in hosts:
            tasks = task_totals(host.sent)
            wait_until(
                exporter_has(host.stack, tasks, error_records(host.sent)),
                60,
                0.25,
                what=f"{host.name}'s exporter to see every task and log record",
                ignore=AssertionError,
            )

        def everything_in_the_store() -> bool:
            for host in hosts:
                tasks = task_totals(host.sent)
                where = f'{{host="{host.name}"}}'
                if not (
                    store.value(f"sum(django_http_requests_total{where})") == host.sent.sent
                    and store.value(f"sum(celery_task_succeeded_total{where})")
                    == tasks["succeeded"]
                    and store.value(f"sum(celery_task_failed_total{where})") == tasks["failed"]
                ):
                    return False
            return True

        store.wait_until(everything_in_the_store, what="the last request and task in the store")
        # Recorded by vmalert from the complete data: a sample of every recorded series the
        # panels read, evaluated a whole interval after the last raw sample arrived.
        seen = time.time()
        drawn = seen + SCRAPE_SECONDS
        for name in sorted(recorded_names_in_panels()):
            behind = RANGE_RULES_DELAY_SECONDS if name.endswith(":increase1m") else 0
            store.wait_until(
                lambda n=name, after=seen + SCRAPE_SECONDS + behind: (
                    (store.value(f"max(timestamp({n}))") or 0) >= after
                ),
                what=f"{name} recorded after the last samples",
            )
        yield Pipeline(store, vmalert, alertmanager, hosts, began, now, time.time(), drawn)
    finally:
        # The agents first (nothing left sending), then the hosts, then the store's side.
        store_side = [s for s in started if not isinstance(s, Stack | PrometheusServer)]
        stop_all([s for s in started if isinstance(s, PrometheusServer)])
        stop_all([s for s in started if isinstance(s, Stack)])
        for service in reversed(store_side):
            _stop(service)


# --- the dashboards, read generically -----------------------------------------------------


def dashboards() -> list[dict]:
    """Every committed dashboard, each custom variable (query, custom) on All = `.*`; a
    hidden one (a value the panels compute with, like the health check interval) keeps
    its current value."""
    boards = []
    for path in sorted(DASHBOARDS_DIR.glob("*.json")):
        board = json.loads(path.read_text())
        for variable in board.get("templating", {}).get("list", []):
            if variable.get("type") in ("query", "custom") and variable.get("hide") != 2:
                variable["allValue"] = variable.get("allValue") or ".*"
                variable["includeAll"] = True
                variable["current"] = {"text": "All", "value": ALL}
        boards.append(board)
    return boards


def time_range(dashboard: dict) -> TimeRange:
    seconds = int(parse_duration(dashboard.get("time", {}).get("from", "now-6h")))
    return TimeRange(range_seconds=seconds, scrape_interval_seconds=SCRAPE_SECONDS)


def panel_queries() -> list[PanelQuery]:
    return [q for d in dashboards() for q in iter_panel_queries(d, time_range=time_range(d))]


def panel_query(dashboard_uid: str, title_start: str, ref_id: str) -> str:
    board = next(d for d in dashboards() if d["uid"] == dashboard_uid)
    for query in iter_panel_queries(board, time_range=time_range(board)):
        if query.panel.startswith(title_start) and query.ref_id == ref_id:
            return query.expr
    raise AssertionError(f"{dashboard_uid} has no panel {title_start!r} with query {ref_id}")


# --- the pipeline -------------------------------------------------------------------------


def test_both_hosts_reach_the_store_with_their_host_label(pipeline):
    up = {
        (r["metric"]["host"], r["metric"]["job"]): float(r["value"][1])
        for r in pipeline.store.query("up", pipeline.settled)
    }
    assert up == {(h, job): 1.0 for h in HOSTS for job in ("django", "painel-exporter")}


def test_every_query_of_every_panel_is_answered_by_the_store(pipeline):
    """Instant at the end (what a stat or table shows), and as a range over the run (what a
    graph shows), POSTed to the store's Prometheus API as Grafana does."""
    store, empty, per_instance = pipeline.store, [], []
    for query in panel_queries():
        name = f"{query.dashboard} / {query.panel} [{query.ref_id}]: {query.expr}"
        # A graph as drawn once the load is in (a rate over $__rate_interval, 23 s here, is
        # empty by `settled`: the range tables' rules are waited for, every 10 s); a table or
        # stat at `settled`, with every rule evaluated past the load.
        at = pipeline.settled if query.instant else pipeline.drawn
        result = store.query(query.expr, bar_time(query.expr, at))
        if not result:
            empty.append(f"(instant) {name}")
        if not query.instant:
            series = store.query_range(query.expr, pipeline.began, pipeline.settled, 2)
            if not series:
                empty.append(f"(range) {name}")
        # Recorded series sum over the hosts' instances: one line per job, not per instance.
        if "django_http" in query.expr and any("instance" in r["metric"] for r in result):
            per_instance.append(name)
    assert not empty, "panels without data:\n" + "\n".join(empty)
    assert not per_instance, "app panels split by instance:\n" + "\n".join(per_instance)


def bar_time(expr: str, at: float) -> float:
    """When Grafana reads a query: an hourly bar (`[1h] offset -1h`: the hour that starts
    there) at the start of the hour in progress, anything else at `at`."""
    return at // 3600 * 3600 if "offset -1h" in expr else at


def test_every_variable_offers_the_values_of_both_hosts(pipeline):
    """Grafana fills a `label_values(selector, label)` variable from the store's label API,
    a `query_result(expr)` one from the expression's value."""
    for board in dashboards():
        for variable in board["templating"]["list"]:
            if variable["type"] != "query":
                continue
            computed = QUERY_RESULT.fullmatch(variable["query"])
            if computed:
                expr = substitute(computed["expr"], board, {}, time_range=time_range(board))
                assert pipeline.store.query(expr, pipeline.settled), variable["name"]
                continue
            match = re.fullmatch(r"\s*label_values\((?:(.+),\s*)?(\w+)\)\s*", variable["query"])
            assert match, f"{variable['name']}: not a label_values() query"
            params = {}
            if match[1]:
                params["match[]"] = substitute(match[1], board, {}, time_range=time_range(board))
            offered = pipeline.store.api(f"label/{match[2]}/values", **params)
            assert offered, f"{board['title']}: ${variable['name']} offers no value"


# --- the counts are what was sent ----------------------------------------------------------


def test_raw_request_counts_per_host_endpoint_and_tenant_are_what_was_sent(pipeline):
    counted = {
        (r["metric"]["host"], r["metric"]["endpoint"], r["metric"]["tenant"]): float(r["value"][1])
        for r in pipeline.store.query(
            "sum by (host, endpoint, tenant) (django_http_requests_total)", pipeline.settled
        )
    }
    sent: Counter = Counter()
    for host in pipeline.hosts:
        for (_, endpoint, tenant, _), n in host.sent.responses.items():
            sent[(host.name, endpoint, tenant)] += n
    assert counted == dict(sent)


def test_increase_per_host_is_the_exact_count(pipeline):
    """No extrapolation in MetricsQL: increase() over the run is what each host served."""
    counted = {
        r["metric"]["host"]: float(r["value"][1])
        for r in pipeline.store.query(
            "sum by (host) (increase(django_http_requests_total[1h]))", pipeline.settled
        )
    }
    assert counted == {host.name: host.sent.sent for host in pipeline.hosts}


def test_most_accessed_endpoints_count_both_hosts_requests_exactly(pipeline):
    rows = pipeline.store.query(
        panel_query("painel-requests", "10 most accessed endpoints", "A"), pipeline.settled
    )
    assert rows
    for row in rows:
        labels = row["metric"]
        expected = sum(
            t.count(endpoint=labels["endpoint"], method=labels["method"]) for t in pipeline.sent()
        )
        assert float(row["value"][1]) == expected, labels


def test_errors_and_tasks_of_the_last_hour_are_exact(pipeline):
    store, at, sent = pipeline.store, pipeline.settled, pipeline.sent()
    tasks = [task_totals(t) for t in sent]
    expected = {
        ("painel-errors", "Errors per hour", "A"): sum(t.count(status=500) for t in sent),
        ("painel-errors", "Errors per hour", "B"): sum(error_records(t) for t in sent),
        ("painel-redis-celery", "Processed", "A"): sum(t["processed"] for t in tasks),
        ("painel-redis-celery", "Failed", "A"): sum(t["failed"] for t in tasks),
    }
    got = {key: store.value(panel_query(*key), at) for key in expected if "hour" not in key[1]}
    for key in expected:  # the bars of the hours the run took, summed (no extrapolation)
        if "hour" in key[1]:
            bars = store.query_range(
                panel_query(*key), pipeline.began // 3600 * 3600, at // 3600 * 3600, 3600
            )
            got[key] = sum(float(v) for series in bars for _, v in series["values"])
    assert got == expected


def test_day_over_day_panels_compare_with_yesterdays_backfill(pipeline):
    store, at = pipeline.store, pipeline.settled
    hosts = len(pipeline.hosts)
    rate = store.value(panel_query("painel-health", "Requests per second", "B"), at)
    assert rate == pytest.approx(hosts * yesterday.expected_yesterday_rate())
    errors = store.value(panel_query("painel-health", "Server errors per second", "B"), at)
    assert errors == pytest.approx(hosts * yesterday.expected_yesterday_rate(status_class="5"))
    mean = store.value(panel_query("painel-health", "Average response time", "B"), at)
    assert mean == pytest.approx(yesterday.expected_yesterday_mean_duration())
    for title in ("Requests per second", "Server errors", "p95", "Average response time"):
        now, then, change = (
            store.query(panel_query("painel-health", title, ref_id), at) for ref_id in "ABC"
        )
        assert len(change) == 1, title
        percent = 100 * (float(now[0]["value"][1]) / float(then[0]["value"][1]) - 1)
        assert float(change[0]["value"][1]) == pytest.approx(percent), title
        assert change[0]["metric"]["direction"] == ("▲" if percent >= 0 else "▼"), title


# --- vmalert --------------------------------------------------------------------------------


def test_vmalert_evaluates_every_painel_rule_without_error(pipeline):
    expected = {
        group["name"]: len(group["rules"])
        for path in live_rule_files()
        for group in yaml.safe_load(path.read_text())["groups"]
    }
    groups = pipeline.vmalert.rule_groups()
    assert {g["name"]: len(g["rules"]) for g in groups} == expected
    errors = [
        f"{g['name']} / {r['name']}: {r['lastError']}"
        for g in groups
        for r in g["rules"]
        if r.get("lastError")
    ]
    assert not errors, "\n".join(errors)


def rules_on_raw_series(rule_files: list[Path]) -> list[dict]:
    """painel's recording rules the panels read whose expr reads raw series only (a rule on
    recorded series reads them as written back one evaluation earlier)."""
    in_panels = recorded_names_in_panels()
    return [
        rule
        for path in rule_files
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if rule.get("record") in in_panels and not RECORDED.search(rule["expr"])
    ]


def series_of(store: VictoriaMetricsServer, expr: str, at: float) -> dict:
    return {
        tuple(sorted(labels_without_name(r).items())): float(r["value"][1])
        for r in store.query(expr, at)
    }


def test_vmalert_records_the_series_the_store_computes_for_each_rule(pipeline):
    """Live: the recorded series are the rule's series, per job, endpoint, tenant, addr...
    Their values lag the store's own answer by what had not arrived when vmalert evaluated
    (the agents' remote_write batches up to 5 s; MetricsQL's rate() divides by the time
    between the window's samples), so values are compared on yesterday's replay below.
    Both sets are read at vmalert's last evaluation of the rule: a series born after it (a
    late bucket) is in the store's answer at a later time, not yet in the recording. On a
    loaded machine a raw sample can still reach the store after vmalert evaluated a rule
    over it (a full suite once saw a recording miss a few buckets the store answered
    later): the sets must then agree at one of vmalert's next evaluations."""
    store = pipeline.store
    for rule in rules_on_raw_series(live_rule_files()):

        def agree(rule: dict = rule) -> bool:
            stamps = store.query(f"timestamp({rule['record']})", time.time())
            assert stamps, rule["record"]
            last = max(float(stamp["value"][1]) for stamp in stamps)
            recorded = series_of(store, rule["record"], last)
            return set(recorded) == set(series_of(store, rule["expr"], last))

        wait_until(agree, 60, 1, what=f"{rule['record']}: recorded as the store computes it")


def test_replayed_recordings_are_exactly_the_rules_evaluated_by_the_store(pipeline):
    """Yesterday: vmalert's replay wrote, at each step T, what the store answers at T."""
    store, checked = pipeline.store, 0
    then = pipeline.now - yesterday.DAY
    for rule in rules_on_raw_series(repository_rule_files()):  # what was replayed
        # timestamp(): when each series was last written (an instant query's own time is the
        # time asked for); a series' value there against the rule evaluated there
        written: dict[float, set] = {}
        for stamp in store.query(f"timestamp({rule['record']})", then):
            key = tuple(sorted(labels_without_name(stamp).items()))
            written.setdefault(float(stamp["value"][1]), set()).add(key)
        for at, keys in written.items():
            recorded, direct = (
                series_of(store, rule["record"], at),
                series_of(store, rule["expr"], at),
            )
            for key in keys:
                assert direct[key] == pytest.approx(recorded[key], rel=1e-9), (rule["record"], key)
                checked += 1
    assert checked


def test_alerts_go_from_vmalert_to_alertmanager_and_into_the_store(pipeline):
    wait_until(
        lambda: any(
            a["labels"].get("alertname") == "Watchdog" for a in pipeline.alertmanager.alerts()
        ),
        30,
        0.5,
        what="Alertmanager received Watchdog from vmalert",
    )
    firing = pipeline.store.query('ALERTS{alertstate="firing"}', pipeline.settled)
    assert "Watchdog" in {r["metric"]["alertname"] for r in firing}
