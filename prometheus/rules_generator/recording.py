"""Recording rules: level:metric:operation (https://prometheus.io/docs/practices/rules/).

They drop `instance` (and every label no panel filters on), so that dashboards and alerts
read a few pre-aggregated series instead of thousands of raw ones. Rates the day-over-day
panels compare read the raw series, not a finer rule, so that `promtool tsdb
create-blocks-from rules` can backfill them in one pass. painel's node rules carry a
`painel_` prefix: node-mixin records `instance:node_cpu_utilisation:rate5m` itself, and
two rules writing one series break both.
"""

from __future__ import annotations

from mixin.config import MixinConfig
from prometheus.rules_generator.promql import select
from prometheus.rules_generator.rule import group, record

REQUESTS = "django_http_requests_total"
DURATION = "django_http_request_duration_seconds"
# Only with PAINEL TENANT_LATENCY "per_tenant" (README "Series budget"); else these are empty.
TENANT_DURATION = "django_http_tenant_request_duration_seconds"
SERVER_ERRORS = 'status=~"5.."'
# filesystems that are memory or images, never "full" in a way to act on
_VIRTUAL_FS = 'fstype!~"tmpfs|ramfs|squashfs|overlay"'


def rate_sum(by: str, metric: str, selector: str, window: str, *matchers: str) -> str:
    return f"sum by ({by}) (rate({select(metric, selector, *matchers)}[{window}]))"


def server_errors_rate(by: str, config: MixinConfig, window: str) -> str:
    """5xx per second, 0 (not absent) for a job or tenant that never answered one."""
    app = config.app_job_selector
    return (
        f"{rate_sum(by, REQUESTS, app, window, SERVER_ERRORS)}\n"
        f"or\n{rate_sum(by, REQUESTS, app, window)} * 0"
    )


def groups(config: MixinConfig) -> list[dict]:
    return [django(config), django_increases(config), node(config), redis(config), celery(config)]


def histogram_rates(level: str, by: str, histogram: str, app: str) -> list[dict]:
    """The 5-minute rates of a histogram's buckets, sum and count, summed `by` (and `le`)."""
    return [
        record(
            f"{level}:{histogram}_{part}:rate5m",
            rate_sum(grouping, f"{histogram}_{part}", app, "5m"),
        )
        for part, grouping in (("bucket", f"{by}, le"), ("sum", by), ("count", by))
    ]


def django(config: MixinConfig) -> dict:
    app = config.app_job_selector
    per_request = "job, endpoint, method, tenant"
    return group(
        "painel.django.rules",
        [
            record("job:django_http_requests:rate5m", rate_sum("job", REQUESTS, app, "5m")),
            record("job:django_http_requests_5xx:rate5m", server_errors_rate("job", config, "5m")),
            record(
                "job:django_http_requests_5xx:ratio_rate5m",
                "job:django_http_requests_5xx:rate5m\n/ on (job)\njob:django_http_requests:rate5m",
            ),
            record(
                "endpoint_method_tenant_status:django_http_requests:rate5m",
                rate_sum(f"{per_request}, status", REQUESTS, app, "5m"),
            ),
            *histogram_rates("endpoint_method_tenant", per_request, DURATION, app),
            record(
                "endpoint:django_http_request_duration_seconds_bucket:rate5m",
                rate_sum("job, endpoint, le", f"{DURATION}_bucket", app, "5m"),
            ),
            record(
                "endpoint:django_http_request_duration_seconds:p95_rate5m",
                "histogram_quantile(0.95, endpoint:django_http_request_duration_seconds_bucket:rate5m)",
            ),
            *histogram_rates("job", "job", DURATION, app),
            *histogram_rates("tenant", "job, tenant", TENANT_DURATION, app),
            record(
                "endpoint_method_tenant:django_http_slow_requests:rate5m",
                rate_sum(per_request, "django_http_slow_requests_total", app, "5m"),
            ),
            # What the Requests board graphs while a variable is at All: one series per
            # endpoint, or per tenant, instead of one per pair (dashboards read the pairs
            # only for the endpoints or tenants chosen).
            record(
                "endpoint:django_http_slow_requests:rate5m",
                rate_sum("job, endpoint", "django_http_slow_requests_total", app, "5m"),
            ),
            record(
                "tenant:django_http_requests:rate5m", rate_sum("job, tenant", REQUESTS, app, "5m")
            ),
            record(
                "endpoint_tenant_exception:django_http_exceptions:rate5m",
                rate_sum(
                    "job, endpoint, tenant, exception", "django_http_exceptions_total", app, "5m"
                ),
            ),
        ],
    )


# The tables over the selected range add up these per-minute counts instead of reading the
# raw counters: one series per endpoint, method and tenant (no instance, no status) and one
# sample a minute, a fraction of the samples, however long the range. The interval is
# MixinConfig.range_rules_interval (1m; tests render a shorter one); the names keep 1m.
INCREASE_NAME = "endpoint_method_tenant:{}:increase1m"
# The same counts without tenant, for the 10 slowest endpoints while tenants are at All: one
# series per endpoint and bucket instead of one per tenant too (thousands fewer to read).
# Read from the raw counters, not summed from the rule above: an evaluator that writes its
# results remotely (vmalert) may not read them back within the same evaluation.
ENDPOINT_INCREASE_NAME = "endpoint_method:{}:increase1m"


def minute_increase(
    by: str, metric: str, selector: str, interval: str, delay: str | None = None
) -> str:
    """What the counters grew by since the previous evaluation, summed `by`.

    The difference from the value a minute ago telescopes: the minutes of a range add up to
    the counter's growth over it, with no extrapolation. A counter that restarted within
    the minute (a negative difference) counts as increase() counts it, across the restart.
    A series with no sample a minute ago (new, at 0 thanks to the new-series hold, or after
    Prometheus was down) counts from its first sample within the minute: never its whole
    past at once. With a `delay`, all of it `delay` ago: the value a minute ago must be the
    one the previous evaluation read, so both reads are of samples that have arrived.
    """
    selected = select(metric, selector)
    if delay is None:
        raw, ago, at = selected, f"{selected} offset {interval}", ""
    else:
        behind = _seconds(interval) + _seconds(delay)
        raw, ago, at = (
            f"{selected} offset {delay}",
            f"{selected} offset {behind}s",
            f" offset {delay}",
        )
    return (
        f"sum by ({by}) (\n"
        f"  ({raw} - {ago}) >= 0\n"
        f"  or\n"
        f"  increase({selected}[{interval}]{at}) and {ago}\n"
        f"  or\n"
        f"  {raw} - min_over_time({selected}[{interval}]{at})\n"
        f")"
    )


def _seconds(duration: str) -> int:
    """A MixinConfig duration (30s, 1m, 2h) in seconds."""
    return int(duration[:-1]) * {"s": 1, "m": 60, "h": 3600}[duration[-1]]


def django_increases(config: MixinConfig) -> dict:
    app, every = config.app_job_selector, config.range_rules_interval
    per_request = "job, endpoint, method, tenant"
    per_endpoint = "job, endpoint, method"
    pair, endpoint = INCREASE_NAME.format, ENDPOINT_INCREASE_NAME.format
    counters = (
        (pair("django_http_requests"), per_request, REQUESTS),
        (pair(f"{DURATION}_bucket"), f"{per_request}, le", f"{DURATION}_bucket"),
        (pair(f"{DURATION}_sum"), per_request, f"{DURATION}_sum"),
        (pair(f"{DURATION}_count"), per_request, f"{DURATION}_count"),
        (pair("django_http_slow_requests"), per_request, "django_http_slow_requests_total"),
        (endpoint(f"{DURATION}_bucket"), f"{per_endpoint}, le", f"{DURATION}_bucket"),
        (endpoint("django_http_slow_requests"), per_endpoint, "django_http_slow_requests_total"),
    )
    rules = [
        record(name, minute_increase(by, metric, app, every, config.range_rules_delay))
        for name, by, metric in counters
    ]
    # `x offset <interval>` is the previous evaluation only when the group runs that often.
    return {"name": "painel.django.increase.rules", "interval": every, "rules": rules}


def node(config: MixinConfig) -> dict:
    exporter = config.exporter_job_selector
    idle = select("node_cpu_seconds_total", exporter, 'mode=~"idle|iowait|steal"')
    avail = select("node_filesystem_avail_bytes", exporter, _VIRTUAL_FS)
    size = select("node_filesystem_size_bytes", exporter, _VIRTUAL_FS)
    return group(
        "painel.node.rules",
        [
            # Busy is everything but idle, iowait and steal, as in node-mixin.
            record(
                "instance:painel_node_cpu_utilisation:rate5m",
                f"1 - avg by (job, instance) (\n  sum without (mode) (rate({idle}[5m]))\n)",
            ),
            record(
                "instance:painel_node_memory_utilisation:ratio",
                f"1 - {select('node_memory_MemAvailable_bytes', exporter)}\n"
                f"  / {select('node_memory_MemTotal_bytes', exporter)}",
            ),
            record(
                "mountpoint:painel_node_filesystem_utilisation:ratio", f"1 - {avail}\n  / {size}"
            ),
        ],
    )


def redis(config: MixinConfig) -> dict:
    exporter = config.exporter_job_selector
    hits = rate_sum("job, addr", "redis_keyspace_hits_total", exporter, "5m")
    misses = rate_sum("job, addr", "redis_keyspace_misses_total", exporter, "5m")
    return group(
        "painel.redis.rules",
        [
            record("addr:redis_keyspace_lookups:rate5m", f"{hits}\n+\n{misses}"),
            # A ratio of summed rates, never an average of per-series ratios.
            record(
                "addr:redis_keyspace_hits:ratio_rate5m",
                f"{hits}\n/ on (job, addr)\naddr:redis_keyspace_lookups:rate5m",
            ),
        ],
    )


def celery(config: MixinConfig) -> dict:
    exporter = config.exporter_job_selector
    by = "job, queue_name, name"
    failed, succeeded = (
        "queue_name_name:celery_task_failed:rate10m",
        "queue_name_name:celery_task_succeeded:rate10m",
    )
    return group(
        "painel.celery.rules",
        [
            record(failed, rate_sum(by, "celery_task_failed_total", exporter, "10m")),
            record(succeeded, rate_sum(by, "celery_task_succeeded_total", exporter, "10m")),
            # A task seen only succeeding (or only failing) has no series of the other
            # kind: `or ... * 0` stands in a zero so that the sum still exists.
            record(
                "queue_name_name:celery_task_processed:rate10m",
                f"({succeeded} or {failed} * 0)\n+\n({failed} or {succeeded} * 0)",
            ),
        ],
    )
