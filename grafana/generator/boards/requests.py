"""Requests: how fast the app answers, which endpoints and tenants are slow or busy."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from grafana.generator.panels import (
    SLOW_THRESHOLD_SECONDS,
    label_variable,
    new_dashboard,
    query,
    table_panel,
    thresholds,
    time_series,
)

UID = "painel-requests"
# Every panel filters on the two variables.
FILTER = 'tenant=~"$tenant", endpoint=~"$endpoint"'
RATES = "endpoint_method_tenant_status:django_http_requests:rate5m"
BUCKETS = "endpoint_method_tenant:django_http_request_duration_seconds_bucket:rate5m"
SUMS = "endpoint_method_tenant:django_http_request_duration_seconds_sum:rate5m"
COUNTS = "endpoint_method_tenant:django_http_request_duration_seconds_count:rate5m"
EXCEPTIONS = "endpoint_tenant_exception:django_http_exceptions:rate5m"
SLOW = "endpoint_method_tenant:django_http_slow_requests:rate5m"


# A label no series has (its value is ""): `{ALL_MARK}!~"$tenant"` keeps every series when
# a tenant is chosen and none when "All" (.*) is, since only .* matches "". The job's rules
# lack tenant and endpoint, so `{FILTER}` keeps them only when both variables are at All.
ALL_MARK = "painel_all"


def app_or_pairs(job_rule: str, pair_rule: str) -> str:
    """The job's rule when tenants and endpoints are at All (a few series), else the pairs'
    rule filtered (thousands with All): a sum of either is the same; Prometheus reads only
    the series the matchers select, so the other side costs nothing."""
    return (
        f"{job_rule}{{{FILTER}}}"
        f' or {pair_rule}{{{FILTER}, {ALL_MARK}!~"$tenant"}}'
        f' or {pair_rule}{{{FILTER}, {ALL_MARK}!~"$endpoint"}}'
    )


JOB_BUCKETS = "job:django_http_request_duration_seconds_bucket:rate5m"
JOB_SUMS = "job:django_http_request_duration_seconds_sum:rate5m"
JOB_COUNTS = "job:django_http_request_duration_seconds_count:rate5m"


def quantile(q: float) -> str:
    return f"histogram_quantile({q}, sum by (le) ({app_or_pairs(JOB_BUCKETS, BUCKETS)}))"


def response_time() -> dashboard.Panel:
    average = f"sum({app_or_pairs(JOB_SUMS, SUMS)}) / sum({app_or_pairs(JOB_COUNTS, COUNTS)})"
    return time_series(
        "Response time",
        "Average, median, 95th and 99th percentile response time of the selected tenants and "
        "endpoints (5-minute rates); the dashed line is the slow-request threshold.",
        "s",
        [
            query(average, "average"),
            query(quantile(0.5), "p50"),
            query(quantile(0.95), "p95"),
            query(quantile(0.99), "p99"),
        ],
        threshold_lines=thresholds((None, "transparent"), (SLOW_THRESHOLD_SECONDS, "red")),
    )


def request_rate() -> dashboard.Panel:
    return time_series(
        "Request rate by tenant",
        "Requests per second of the selected endpoints, per tenant (5-minute rates).",
        "reqps",
        [query(f"sum by (tenant) ({RATES}{{{FILTER}}})", "{{tenant}}")],
        stacked=True,
    )


def client_and_server_errors() -> dashboard.Panel:
    return time_series(
        "4xx and 5xx responses",
        "Client errors (4xx) and server errors (5xx) per second, per endpoint.",
        "reqps",
        [
            query(f'sum by (endpoint) ({RATES}{{{FILTER}, status=~"4.."}})', "4xx {{endpoint}}"),
            query(f'sum by (endpoint) ({RATES}{{{FILTER}, status=~"5.."}})', "5xx {{endpoint}}"),
        ],
        width=8,
    )


def exceptions_by_type() -> dashboard.Panel:
    return time_series(
        "Exceptions by type",
        "Unhandled exceptions raised by views per second, per exception class.",
        "cps",
        [query(f"sum by (exception) ({EXCEPTIONS}{{{FILTER}}})", "{{exception}}")],
        stacked=True,
        width=8,
    )


def slow_requests() -> dashboard.Panel:
    return time_series(
        "Slow requests by endpoint",
        "Requests per second slower than the slow-request threshold (500 ms by default), for "
        "the 10 endpoints with the most (5-minute rates).",
        "reqps",
        [query(f"topk(10, sum by (endpoint) ({SLOW}{{{FILTER}}}))", "{{endpoint}}")],
        width=8,
    )


# Per-minute counts (prometheus/rules_generator/recording.py): the tables add up the minutes
# of the selected range, a fraction of the raw counters' samples, with the same counts.
MINUTE = "endpoint_method_tenant:{}:increase1m"
REQUESTS_PER_MINUTE = MINUTE.format("django_http_requests")
BUCKETS_PER_MINUTE = MINUTE.format("django_http_request_duration_seconds_bucket")
SUMS_PER_MINUTE = MINUTE.format("django_http_request_duration_seconds_sum")
COUNTS_PER_MINUTE = MINUTE.format("django_http_request_duration_seconds_count")
SLOW_PER_MINUTE = MINUTE.format("django_http_slow_requests")


def over_range(by: str, rule: str) -> str:
    """The rule's minutes within the selected range, added up per `by`."""
    return f"sum by ({by}) (sum_over_time({rule}{{{FILTER}}}[$__range]))"


def slowest_endpoints() -> dashboard.Panel:
    by = "endpoint, method, tenant"
    # The quantile of the range's summed buckets (never an average of per-minute quantiles).
    p95 = f"topk(10, histogram_quantile(0.95, {over_range(f'{by}, le', BUCKETS_PER_MINUTE)}))"
    # Every row's slow requests: the table keeps the rows of the p95 query (rows_of), so the
    # quantiles, most of the panel's work, are computed once. The middleware creates the slow
    # counter at 0 with an endpoint's first request, so a row never slow shows 0.
    slow = over_range(by, SLOW_PER_MINUTE)
    return table_panel(
        "10 slowest endpoints",
        "Over the selected time range: the endpoints (with method and tenant) with the highest "
        "95th percentile response time, and how many of their requests took longer than the "
        "slow-request threshold (500 ms by default).",
        "none",
        [query(p95, instant=True, table_format=True), query(slow, instant=True, table_format=True)],
        rename={
            "endpoint": "Endpoint",
            "method": "Method",
            "tenant": "Tenant",
            "Value #A": "p95",
            "Value #B": "Requests over 500 ms",
        },
        units={"p95": "s", "Requests over 500 ms": "short"},
        sort_by="p95",
        rows_of="Value #A",
    )


def most_accessed_endpoints() -> dashboard.Panel:
    by = "endpoint, method"
    count = f"topk(10, {over_range(by, REQUESTS_PER_MINUTE)})"
    mean = (
        f"{over_range(by, SUMS_PER_MINUTE)} / {over_range(by, COUNTS_PER_MINUTE)}"
        f" and on ({by}) {count}"
    )
    return table_panel(
        "10 most accessed endpoints",
        "Over the selected time range: the endpoints with the most requests, and their average "
        "response time.",
        "none",
        [
            query(count, instant=True, table_format=True),
            query(mean, instant=True, table_format=True),
        ],
        rename={
            "endpoint": "Endpoint",
            "method": "Method",
            "Value #A": "Requests",
            "Value #B": "Average time",
        },
        units={"Requests": "short", "Average time": "s"},
        sort_by="Requests",
    )


def slowest_requests() -> dashboard.Panel:
    duration = f"painel_slow_request_duration_seconds{{{FILTER}}}"
    # Grafana's dateTime units take milliseconds.
    timestamp = f"painel_slow_request_timestamp_seconds{{{FILTER}}} * 1000"
    return table_panel(
        "Slowest requests (last 24 hours)",
        "The 10 slowest single requests of the last 24 hours, as the exporter reads them from "
        "the slow-request log: find them in the app's logs by request id.",
        "none",
        [
            query(duration, instant=True, table_format=True),
            query(timestamp, instant=True, table_format=True),
        ],
        rename={
            "Value #B": "Time",
            "endpoint": "Endpoint",
            "method": "Method",
            "tenant": "Tenant",
            "user": "User",
            "Value #A": "Duration",
            "request_id": "Request id",
        },
        units={"Duration": "s", "Time": "dateTimeAsIso"},
        sort_by="Duration",
        width=24,
    )


def build() -> dashboard.Dashboard:
    return (
        new_dashboard(
            UID,
            "painel / Requests",
            "Response times, request rates, errors and the slowest endpoints and requests, "
            "per tenant and endpoint.",
            "now-6h",
        )
        .with_variable(label_variable("tenant", "Tenant", "django_http_requests_total", "tenant"))
        .with_variable(
            label_variable(
                "endpoint",
                "Endpoint",
                'django_http_requests_total{tenant=~"$tenant"}',
                "endpoint",
            )
        )
        .with_row(dashboard.Row("Over time"))
        .with_panel(response_time())
        .with_panel(request_rate())
        .with_panel(client_and_server_errors())
        .with_panel(exceptions_by_type())
        .with_panel(slow_requests())
        .with_row(dashboard.Row("Endpoints and requests"))
        .with_panel(slowest_endpoints())
        .with_panel(most_accessed_endpoints())
        .with_panel(slowest_requests())
    )
