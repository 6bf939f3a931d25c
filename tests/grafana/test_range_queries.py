"""Graph panels as Grafana asks for them: range queries with its step, start and end aligned
to the step, against a real Prometheus holding known, backfilled series.

The data runs from two hours before the current hour to 29 min 45 s into it ("now", an hour
ago on the wall clock, so that every sample is in the past when Prometheus loads it).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable

import pytest

from dashboard_checks.queries import TimeRange, iter_panel_queries
from grafana.generator.generate import DASHBOARDS_DIR
from local_services.ports import free_port
from local_services.prometheus import PrometheusServer

STEP = 15  # seconds between samples (the scrape interval)
HOUR = 3600
CURRENT_HOUR = (math.floor(time.time() / HOUR) - 1) * HOUR
NOW = CURRENT_HOUR + 29 * 60 + 45
START = CURRENT_HOUR - 2 * HOUR
APP = {"job": "django", "instance": "app:8000", "method": "GET", "status": "500"}
EXPORTER = {"job": "painel-exporter", "instance": "exporter:9811"}
RATES = "endpoint_method_tenant_status:django_http_requests:rate5m"
TENANT_RATES = "tenant:django_http_requests:rate5m"  # what Request rate by tenant reads at All
STEADY = [f"/e{i:02}/" for i in range(10)]  # a server error every 15 s, all along
BURSTS = ["/b1/", "/b2/"]  # 3 every 15 s in the first 5 minutes of the last hour, then none
BURST_START, BURST_END = NOW - HOUR, NOW - HOUR + 300
SPIKE = NOW - 20 * 60  # "spiky" serves 10 errors a second for 45 s, between two steps


def times() -> range:
    return range(START, NOW + 1, STEP)


def labels(**values: str) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in values.items()) + "}"


def steady(t: int) -> float:
    return (t - START) / STEP


def burst(t: int) -> float:
    return 3 * (min(max(t, BURST_START), BURST_END) - BURST_START) / STEP


def rate5m(counter: Callable[[int], float]) -> Callable[[int], float]:
    """What the recording rule records: the counter's increase over 5 minutes, per second."""
    return lambda t: (counter(t) - counter(t - 300)) / 300


def spike(t: int) -> float:
    return 10.0 if SPIKE <= t < SPIKE + 45 else 0.0


def openmetrics() -> str:
    families: dict[str, list[tuple[str, str, Callable[[int], float]]]] = {
        "django_http_requests counter": [
            ("django_http_requests_total", labels(**APP, tenant="acme", endpoint="/pay/"), steady)
        ],
        "log_messages counter": [
            ("log_messages_total", labels(**EXPORTER, log="errors", level="error"), steady),
            ("log_messages_total", labels(**EXPORTER, log="errors", level="critical"), steady),
        ],
        f"{RATES} gauge": [],
    }
    for endpoint in STEADY + BURSTS:
        counter = steady if endpoint in STEADY else burst
        series = labels(**APP, tenant="acme", endpoint=endpoint)
        families["django_http_requests counter"].append(
            ("django_http_requests_total", series, counter)
        )
        families[f"{RATES} gauge"].append((RATES, series, rate5m(counter)))
    families[f"{RATES} gauge"].append((RATES, labels(**APP, tenant="spiky", endpoint="/"), spike))
    acme = [rate5m(steady if endpoint in STEADY else burst) for endpoint in STEADY + BURSTS]
    families[f"{TENANT_RATES} gauge"] = [
        (TENANT_RATES, labels(job="django", tenant="acme"), lambda t: sum(r(t) for r in acme)),
        (TENANT_RATES, labels(job="django", tenant="spiky"), spike),
    ]
    lines = []
    for family, members in families.items():
        lines.append(f"# TYPE {family}")
        for name, series, value in members:
            lines += [f"{name}{series} {value(t)} {t}" for t in times()]
    return "\n".join([*lines, "# EOF"]) + "\n"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("range-prometheus")
    nothing = f"127.0.0.1:{free_port()}"  # scrape targets are required; the data is backfilled
    server = PrometheusServer(workdir, django=[nothing], exporter=[nothing], rule_files=[])
    server.backfill(openmetrics())
    server.start()
    yield server
    server.stop()


def panel_query(file_name: str, title: str, ref_id: str, time_range: TimeRange, **variables):
    board = json.loads((DASHBOARDS_DIR / file_name).read_text())
    for query in iter_panel_queries(board, variables, time_range):
        if query.panel == title and query.ref_id == ref_id:
            return query.expr
    raise AssertionError(f"{file_name} has no panel {title!r} [{ref_id}]")


def grafana_range(prometheus, expr: str, range_seconds: int, step: int) -> dict[str, list]:
    """The range query Grafana sends for the last `range_seconds` before NOW: start and end
    aligned down to the step. Returns the series' labels (as text) -> [(time, value)]."""
    start = (NOW - range_seconds) // step * step
    end = NOW // step * step
    data = prometheus.api("query_range", query=expr, start=start, end=end, step=step)
    return {
        json.dumps(r["metric"], sort_keys=True): [(int(t), float(v)) for t, v in r["values"]]
        for r in data["result"]
    }


def only(result: dict[str, list]) -> dict[int, float]:
    (values,) = result.values()
    return dict(values)


def test_errors_per_hour_shows_each_hour_on_its_own_bar_and_the_hour_in_progress(prometheus):
    title = "Errors per hour (last 24 hours)"
    day = TimeRange(range_seconds=24 * HOUR, scrape_interval_seconds=STEP)
    # /pay/ alone: the other endpoints' errors are for the next test.
    five_xx = panel_query("errors.json", title, "A", day, endpoint="/pay/")
    responses = only(grafana_range(prometheus, five_xx, 24 * HOUR, HOUR))
    records = only(
        grafana_range(prometheus, panel_query("errors.json", title, "B", day), 24 * HOUR, HOUR)
    )
    # The bars stand at the hours' starts, the last one at the current hour's.
    assert sorted(responses)[-3:] == [CURRENT_HOUR - 2 * HOUR, CURRENT_HOUR - HOUR, CURRENT_HOUR]
    # Whole hours: 240 server errors each (one every 15 s), twice as many ERROR or above.
    assert responses[CURRENT_HOUR - 2 * HOUR] == pytest.approx(240)
    assert responses[CURRENT_HOUR - HOUR] == pytest.approx(240)
    assert records[CURRENT_HOUR - HOUR] == pytest.approx(480)
    # The hour in progress: the 119 errors of its first 29 min 45 s, and Prometheus'
    # extrapolation of half a scrape interval past the last sample.
    assert responses[CURRENT_HOUR] == pytest.approx(119.5)
    assert records[CURRENT_HOUR] == pytest.approx(239)


def test_top_10_over_time_ranks_over_the_range_the_legend_holds_10_unbroken_lines(prometheus):
    hour = TimeRange(range_seconds=HOUR, scrape_interval_seconds=STEP)
    expr = panel_query("errors.json", "Server errors by endpoint", "A", hour)
    shown = grafana_range(prometheus, expr, HOUR, STEP)
    endpoints = {json.loads(key)["endpoint"] for key in shown}
    # The bursts were busier than any steady endpoint for minutes, but less over the hour.
    assert endpoints == set(STEADY)
    steps = len(range((NOW - HOUR) // STEP * STEP, NOW // STEP * STEP + 1, STEP))
    assert all(len(values) == steps for values in shown.values())
    # Ranked at each step instead, the legend would hold 12 series, some with gaps.
    per_step = grafana_range(
        prometheus, f'topk(10, sum by (endpoint) ({RATES}{{tenant="acme"}}))', HOUR, STEP
    )
    assert len(per_step) == 12


def test_graphs_of_5_minute_rules_keep_what_happened_between_two_steps(prometheus):
    # Two hours on a narrow panel: a 180 s step, longer than the rules' 15 s interval.
    narrow = TimeRange(range_seconds=2 * HOUR, scrape_interval_seconds=STEP, max_data_points=40)
    step = 180
    assert SPIKE % step not in (0, 15, 30)  # no step lands on the spike's samples
    expr = panel_query("requests.json", "Request rate by tenant", "A", narrow, tenant="spiky")
    values = only(grafana_range(prometheus, expr, 2 * HOUR, step))
    # The step after the spike averages its 4 samples of 10 with the window's zeros.
    assert max(values.values()) > 2
    # Read as is, the rule shows only the samples that fall on a step: the spike is gone.
    bare = only(
        grafana_range(prometheus, f'sum by (tenant) ({RATES}{{tenant="spiky"}})', 2 * HOUR, step)
    )
    assert max(bare.values()) == 0
