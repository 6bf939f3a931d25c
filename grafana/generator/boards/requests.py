"""Requests: how fast the app answers, which endpoints and tenants are slow or busy."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from grafana.generator.panels import (
    app_recorded,
    exporter,
    new_dashboard,
    query,
    ranked,
    recorded,
    requests_link,
    slow_threshold,
    slow_threshold_text,
    table_panel,
    thresholds,
    time_series,
    with_tenant_and_endpoint,
)

UID = "painel-requests"
# Every panel filters on the two variables (and on $job, $cluster: panels.app...).
FILTER = 'tenant=~"$tenant", endpoint=~"$endpoint"'
CLIENT_ERRORS, SERVER_ERRORS = 'status=~"4.."', 'status=~"5.."'
RATES = "endpoint_method_tenant_status:django_http_requests:rate5m"
BUCKETS = "endpoint_method_tenant:django_http_request_duration_seconds_bucket:rate5m"
SUMS = "endpoint_method_tenant:django_http_request_duration_seconds_sum:rate5m"
COUNTS = "endpoint_method_tenant:django_http_request_duration_seconds_count:rate5m"
EXCEPTIONS = "endpoint_tenant_exception:django_http_exceptions:rate5m"
SLOW = "endpoint_method_tenant:django_http_slow_requests:rate5m"
# The same without tenant, and requests without endpoint, method and status (read at All).
ENDPOINT_SLOW = "endpoint:django_http_slow_requests:rate5m"
TENANT_RATES = "tenant:django_http_requests:rate5m"
# PAINEL TENANT_LATENCY "per_tenant": the endpoint histogram has no tenant label, each
# tenant's latency is its own histogram (all endpoints). Empty in the default mode.
TENANT_FILTER = 'tenant=~"$tenant"'
TENANT_BUCKETS = "tenant:django_http_tenant_request_duration_seconds_bucket:rate5m"
TENANT_SUMS = "tenant:django_http_tenant_request_duration_seconds_sum:rate5m"
TENANT_COUNTS = "tenant:django_http_tenant_request_duration_seconds_count:rate5m"


def rule(name: str, *matchers: str) -> str:
    """A 5-minute recording rule of the selected jobs, tenants and endpoints, as graphs
    read it (panels.recorded)."""
    return recorded(f"{name}{{{app_recorded(FILTER, *matchers)}}}")


def tenant_rule(name: str) -> str:
    """A per-tenant latency rule (TENANT_LATENCY "per_tenant") of the selected jobs and
    tenants: it has no endpoint label."""
    return recorded(f"{name}{{{app_recorded(TENANT_FILTER)}}}")


# A label no series has (its value is ""): `{ALL_MARK}!~"$tenant"` keeps every series when
# a tenant is chosen and none when "All" (.*) is, since only .* matches "". The job's rules
# lack tenant and endpoint, so `{FILTER}` keeps them only when both variables are at All.
ALL_MARK = "painel_all"


def coarse_or_pairs(coarse_rule: str, pair_rule: str, *missing: str) -> str:
    """The coarse rule, which lacks the labels `missing`, while those variables are at All
    (a few series), else the pairs' rule filtered (thousands with All): a sum of either is
    the same; Prometheus reads only the series the matchers select, so the other side costs
    nothing."""
    chosen = [rule(pair_rule, f'{ALL_MARK}!~"${variable}"') for variable in missing]
    return " or ".join([rule(coarse_rule), *chosen])


def job_or_pairs(job_rule: str, pair_rule: str) -> str:
    """coarse_or_pairs of a job's rule (neither tenant nor endpoint)."""
    return coarse_or_pairs(job_rule, pair_rule, "tenant", "endpoint")


JOB_BUCKETS = "job:django_http_request_duration_seconds_bucket:rate5m"
JOB_SUMS = "job:django_http_request_duration_seconds_sum:rate5m"
JOB_COUNTS = "job:django_http_request_duration_seconds_count:rate5m"


def quantile(q: float) -> str:
    return (
        f"histogram_quantile({q}, sum by (le) ({job_or_pairs(JOB_BUCKETS, BUCKETS)}))" + "\nor "
        f"histogram_quantile({q}, sum by (le) ({tenant_rule(TENANT_BUCKETS)}))"
    )


def average() -> str:
    return (
        f"sum({job_or_pairs(JOB_SUMS, SUMS)}) / sum({job_or_pairs(JOB_COUNTS, COUNTS)})" + "\nor "
        f"sum({tenant_rule(TENANT_SUMS)}) / sum({tenant_rule(TENANT_COUNTS)})"
    )


def response_time() -> dashboard.Panel:
    return time_series(
        "Response time",
        "Average, median, 95th and 99th percentile response time of the selected tenants and "
        "endpoints (5-minute rates); the dashed line is the slow-request threshold. When the "
        'app records latency by endpoint only (PAINEL TENANT_LATENCY "per_tenant"), a '
        "selected tenant's line is its own histogram, over all its endpoints.",
        "s",
        [
            query(average(), "average"),
            query(quantile(0.5), "p50"),
            query(quantile(0.95), "p95"),
            query(quantile(0.99), "p99"),
        ],
        threshold_lines=thresholds((None, "transparent"), (slow_threshold(), "red")),
    )


def request_rate() -> dashboard.Panel:
    return time_series(
        "Request rate by tenant",
        "Requests per second of the selected endpoints, per tenant (5-minute rates).",
        "reqps",
        [
            query(
                f"sum by (tenant) ({coarse_or_pairs(TENANT_RATES, RATES, 'endpoint')})",
                "{{tenant}}",
            )
        ],
        stacked=True,
    )


def client_and_server_errors() -> dashboard.Panel:
    return time_series(
        "4xx and 5xx responses",
        "Client errors (4xx) and server errors (5xx) per second, per endpoint.",
        "reqps",
        [
            query(
                f"sum by (endpoint) ({rule(RATES, CLIENT_ERRORS)})",
                "4xx {{endpoint}}",
            ),
            query(
                f"sum by (endpoint) ({rule(RATES, SERVER_ERRORS)})",
                "5xx {{endpoint}}",
            ),
        ],
        width=8,
    )


def exceptions_by_type() -> dashboard.Panel:
    return time_series(
        "Exceptions by type",
        "Unhandled exceptions raised by views per second, per exception class.",
        "cps",
        [query(f"sum by (exception) ({rule(EXCEPTIONS)})", "{{exception}}")],
        stacked=True,
        width=8,
    )


def slow_requests() -> dashboard.Panel:
    shown = f"sum by (endpoint) ({coarse_or_pairs(ENDPOINT_SLOW, SLOW, 'tenant')})"
    # Ranked by the rates' samples added up over the range (in proportion to the requests):
    # from the same few series, and as fresh as the graph (the minute rules lag a minute).
    score = endpoints_over_range("endpoint", ENDPOINT_SLOW, SLOW, at="[$__range] @ end()")
    return time_series(
        "Slow requests by endpoint",
        f"Requests per second slower than the slow-request threshold ({slow_threshold_text()}), "
        "for the 10 endpoints with the most over the selected time range (5-minute rates).",
        "reqps",
        [query(ranked(10, "endpoint", shown, score), "{{endpoint}}")],
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
# The same without tenant (recording.py ENDPOINT_INCREASE_NAME).
ENDPOINT_MINUTE = "endpoint_method:{}:increase1m"
ENDPOINT_BUCKETS_PER_MINUTE = ENDPOINT_MINUTE.format("django_http_request_duration_seconds_bucket")
ENDPOINT_SLOW_PER_MINUTE = ENDPOINT_MINUTE.format("django_http_slow_requests")


def over_range(by: str, rule: str) -> str:
    """The rule's minutes within the selected range, added up per `by`."""
    return f"sum by ({by}) (sum_over_time({rule}{{{app_recorded(FILTER)}}}[$__range]))"


def endpoints_over_range(
    by: str, endpoint_rule: str, pair_rule: str, at: str = "[$__range]"
) -> str:
    """over_range of the endpoints' rule while tenants are at All, else of the chosen tenants'
    pairs: the same sums, from one series per endpoint instead of one per tenant too. Only
    one side has series for the matchers (ALL_MARK); the other costs nothing."""
    some_tenants = f'{ALL_MARK}!~"$tenant"'
    return (
        f"sum by ({by}) (\n"
        f"  sum_over_time({endpoint_rule}{{{app_recorded(FILTER)}}}{at})\n"
        f"  or sum_over_time({pair_rule}{{{app_recorded(FILTER, some_tenants)}}}{at})\n"
        ")"
    )


def slowest_endpoints() -> dashboard.Panel:
    by = "endpoint, method"
    # The quantile of the range's summed buckets (never an average of per-minute quantiles).
    buckets = endpoints_over_range(f"{by}, le", ENDPOINT_BUCKETS_PER_MINUTE, BUCKETS_PER_MINUTE)
    p95 = f"topk(10, histogram_quantile(0.95, {buckets}))"
    # Every row's slow requests: the table keeps the rows of the p95 query (rows_of), so the
    # quantiles, most of the panel's work, are computed once. The middleware creates the slow
    # counter at 0 with an endpoint's first request, so a row never slow shows 0.
    slow = endpoints_over_range(by, ENDPOINT_SLOW_PER_MINUTE, SLOW_PER_MINUTE)
    over = f"Requests over {slow_threshold_text()}"
    return table_panel(
        "10 slowest endpoints",
        "Over the selected time range: the endpoints (with method) with the highest 95th "
        "percentile response time over the selected tenants' requests, and how many of those "
        f"took longer than the slow-request threshold ({slow_threshold_text()}). Choose "
        "tenants to see the endpoints that are slow for them.",
        "none",
        [query(p95, instant=True, table_format=True), query(slow, instant=True, table_format=True)],
        rename={
            "endpoint": "Endpoint",
            "method": "Method",
            "Value #A": "p95",
            "Value #B": over,
        },
        units={"p95": "s", over: "short"},
        sort_by="p95",
        rows_of="Value #A",
    ).data_links(
        [
            requests_link(
                "Requests of ${__data.fields.endpoint}", endpoint="endpoint", keep=("tenant",)
            )
        ]
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
    # The exporter's series: its job says nothing of the app's (panels.exporter).
    duration = f"painel_slow_request_duration_seconds{{{exporter(FILTER)}}}"
    # Grafana's dateTime units take milliseconds.
    timestamp = f"painel_slow_request_timestamp_seconds{{{exporter(FILTER)}}} * 1000"
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
        with_tenant_and_endpoint(
            new_dashboard(
                UID,
                "painel / Requests",
                "Response times, request rates, errors and the slowest endpoints and requests, "
                "per tenant and endpoint.",
                "now-6h",
                shows_app=True,
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
