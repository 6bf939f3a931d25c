"""The tables over the selected range (10 slowest, 10 most accessed endpoints) read the
per-minute recording rules; on a real Prometheus they show the rows and values the raw
counters give over the same minutes.

Two hours of an app on two instances are backfilled (`promtool tsdb create-blocks-from
openmetrics`), the rules evaluated over them (`create-blocks-from rules`), and each table's
queries, as Grafana sends them for the last hour, compared with the raw-counter queries they
replaced. The traffic makes the shortcuts fail: latency bursts in the middle of the hour
(an average of per-minute quantiles is not the hour's quantile), one instance restarting
(its counters drop to 0) and a pair whose series appear half-way (at 0, the new-series hold).
"""

from __future__ import annotations

import json
import random
import time

import pytest
import yaml

from dashboard_checks.queries import TimeRange, iter_panel_queries
from django_middleware.conf import DEFAULT_BUCKETS
from grafana.generator.generate import DASHBOARDS_DIR
from local_services.ports import free_port
from local_services.prometheus import RULES_DIR, PrometheusServer
from mixin.config import MixinConfig

SCRAPE = 15
HOURS = 2
BOUNDS = (*(repr(float(b)) for b in DEFAULT_BUCKETS), "+Inf")
RESTART = 70 * 60  # instance b restarts 70 minutes in, 10 minutes into the last hour
NEW_PAIR_FROM = 90 * 60  # one pair's series appear half-way through the last hour
# Raw counters can only be compared over the same minutes the rule added up; what is left
# is the raw queries' extrapolation over at most one scrape interval at the window's start.
TOLERANCE = 0.01
# How far behind the committed per-minute rules read (MixinConfig's default), in seconds.
DELAY = {"s": 1, "m": 60}[MixinConfig().range_rules_delay[-1]] * int(
    MixinConfig().range_rules_delay[:-1]
)

RAW = {
    ("10 slowest endpoints", "A"): "topk(10, histogram_quantile(0.95, sum by (endpoint, method, "
    "le) (increase(django_http_request_duration_seconds_bucket{TENANT}[1h]))))",
    ("10 slowest endpoints", "B"): "sum by (endpoint, method) "
    "(increase(django_http_slow_requests_total{TENANT}[1h]))",
    ("10 most accessed endpoints", "A"): "topk(10, sum by (endpoint, method) "
    "(increase(django_http_requests_total{TENANT}[1h])))",
    ("10 most accessed endpoints", "B"): "sum by (endpoint, method) "
    "(increase(django_http_request_duration_seconds_sum{TENANT}[1h])) / sum by (endpoint, method) "
    "(increase(django_http_request_duration_seconds_count{TENANT}[1h]))",
}


def raw(panel: str, ref_id: str, tenant: str | None) -> str:
    """The raw-counter query of a table's target, over the chosen tenant or all."""
    return RAW[(panel, ref_id)].replace("{TENANT}", f'{{tenant="{tenant}"}}' if tenant else "")


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def history(start: int) -> str:
    """OpenMetrics of 12 endpoints x 2 tenants on instances a and b, every SCRAPE seconds.

    The 10 pairs of the 5 last endpoints are the slow ones (bins 7 to 9), the others fast
    (bins 1 to 3); endpoint e gets up to 2 + e requests a scrape, so the 10 most accessed are
    clear too. Within each group the order is the data's."""
    rng = random.Random(7)
    families: dict[str, list[str]] = {"requests": [], "duration": [], "slow": []}
    for e in range(12):
        for t in range(2):
            method, endpoint, tenant = ("POST" if e == 0 else "GET"), f"/e{e}/", f"t{t}"
            typical = (7 if e >= 7 else 1) + (e + t) % 3
            for instance in ("a", "b"):
                first = NEW_PAIR_FROM if (e, t) == (9, 1) else 0
                if first and instance == "b":
                    continue
                counts = [0] * len(BOUNDS)
                seconds = slow = 0.0
                base = dict(job="django", instance=instance, method=method, endpoint=endpoint)
                rows: dict[str, list[str]] = {"requests": [], "duration": [], "slow": []}
                for offset in range(first, HOURS * 3600 + 1, SCRAPE):
                    if instance == "b" and offset == RESTART:
                        counts, seconds, slow = [0] * len(BOUNDS), 0.0, 0.0
                    elif offset > first:
                        # Bursts: 20 to 40 minutes into the last hour, 2 bins slower.
                        burst = 2 if 80 * 60 <= offset < 100 * 60 and e % 2 else 0
                        for _ in range(rng.randint(0, 2 + e)):
                            b = min(len(BOUNDS) - 1, typical + burst + rng.choice((-1, 0, 0, 1)))
                            counts[b] += 1
                            seconds += DEFAULT_BUCKETS[min(b, len(DEFAULT_BUCKETS) - 1)] * 0.8
                            slow += b > DEFAULT_BUCKETS.index(0.5)
                    ts = start + offset
                    total = sum(counts)
                    labels = _labels(**base, status="200", tenant=tenant)
                    rows["requests"].append(f"django_http_requests_total{labels} {total} {ts}")
                    running = 0
                    for b, bound in enumerate(BOUNDS):
                        running += counts[b]
                        labels = _labels(**base, tenant=tenant, le=bound)
                        rows["duration"].append(
                            f"django_http_request_duration_seconds_bucket{labels} {running} {ts}"
                        )
                    labels = _labels(**base, tenant=tenant)
                    rows["duration"].append(
                        f"django_http_request_duration_seconds_count{labels} {total} {ts}"
                    )
                    rows["duration"].append(
                        f"django_http_request_duration_seconds_sum{labels} {seconds:.3f} {ts}"
                    )
                    rows["slow"].append(f"django_http_slow_requests_total{labels} {slow} {ts}")
                for family, lines in rows.items():
                    families[family] += lines
    # promtool wants each series' samples together and in time order.
    return (
        "\n".join(
            [
                "# TYPE django_http_requests counter",
                *sorted(families["requests"], key=_series_then_time),
                "# TYPE django_http_request_duration_seconds histogram",
                *sorted(families["duration"], key=_series_then_time),
                "# TYPE django_http_slow_requests counter",
                *sorted(families["slow"], key=_series_then_time),
                "# EOF",
            ]
        )
        + "\n"
    )


def _series_then_time(line: str) -> tuple[str, int]:
    series, _, ts = line.rsplit(" ", 2)
    return series, int(ts)


def increase_rules(path) -> None:
    """The per-minute rules alone, as promtool backfills them."""
    doc = yaml.safe_load((RULES_DIR / "recording.yml").read_text())
    (group,) = [g for g in doc["groups"] if g["name"] == "painel.django.increase.rules"]
    path.write_text(yaml.safe_dump({"groups": [group]}, sort_keys=False))


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("range-tables")
    # Two hours ending a few minutes ago: promtool backfills rules up to a time in the past.
    end = int(time.time()) // 60 * 60 - 300
    start = end - HOURS * 3600
    server = PrometheusServer(
        workdir,
        django=[f"127.0.0.1:{free_port()}"],  # nothing listens: only the backfill is read
        exporter=[f"127.0.0.1:{free_port()}"],
        rule_files=[],
        interval=f"{SCRAPE}s",
    )
    server.backfill(history(start))
    server.start()
    try:
        increase_rules(workdir / "increase.yml")
        server.backfill_rules(workdir / "increase.yml", start + 60, end, "15s")
        server.restart()
        yield server, end
    finally:
        server.stop()


def rows(result: list[dict]) -> dict[tuple, float]:
    return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in result}


@pytest.mark.parametrize("tenant", [None, "t1"], ids=["all tenants", "one tenant"])
@pytest.mark.parametrize("panel", ["10 slowest endpoints", "10 most accessed endpoints"])
def test_a_range_table_shows_the_rows_and_values_of_the_raw_counters(prometheus, panel, tenant):
    """At All the slowest endpoints come from the endpoints' own rules, with a tenant chosen
    from that tenant's pairs: both as the raw counters give them."""
    server, end = prometheus
    board = json.loads((DASHBOARDS_DIR / "requests.json").read_text())
    choice = {"tenant": tenant} if tenant else {}
    queries = {
        (q.panel, q.ref_id): q.expr
        for q in iter_panel_queries(board, choice, TimeRange(range_seconds=3600))
    }
    now = end - 20  # Grafana's now falls anywhere between two evaluations of the rules
    minute = "endpoint_method_tenant:django_http_requests:increase1m"
    last = max(float(r["value"][1]) for r in server.query(f"timestamp({minute})", now))
    shown = rows(server.query(queries[(panel, "A")], now))
    # The last minute recorded is the one that ended range_rules_delay before it.
    expected = rows(server.query(raw(panel, "A", tenant), last - DELAY))
    assert len(shown) == 10
    assert shown.keys() == expected.keys()
    for key, value in shown.items():
        assert value == pytest.approx(expected[key], rel=TOLERANCE), key
    # B: a value for every row shown (the table keeps A's rows), that of the raw counters.
    second = rows(server.query(queries[(panel, "B")], now))
    expected_second = rows(server.query(raw(panel, "B", tenant), last - DELAY))
    assert shown.keys() <= second.keys()
    for key in shown:
        assert second[key] == pytest.approx(expected_second[key], rel=TOLERANCE), key


def test_the_hours_p95_is_not_an_average_of_minutes(prometheus):
    """The bursts make the shortcut visibly wrong, so the comparison above means something."""
    server, end = prometheus
    buckets = "endpoint_method:django_http_request_duration_seconds_bucket:increase1m"
    averaged = rows(
        server.query(
            "avg_over_time((histogram_quantile(0.95, sum by (endpoint, method, le) "
            f"({buckets})))[1h:1m])",
            end - 20,
        )
    )
    exact = rows(
        server.query(
            raw("10 slowest endpoints", "A", None).removeprefix("topk(10, ")[:-1], end - 20
        )
    )
    differing = [k for k in exact if abs(averaged[k] - exact[k]) > 0.1 * exact[k]]
    assert differing, "no burst moved an average of minutes away from the hour's p95"
