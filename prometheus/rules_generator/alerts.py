"""Alerts in the monitoring-mixin style: CamelCase names, a severity, a one-line summary, a
description with the value, an absolute runbook link (runbook.py).

The same alert name at two severities shares one runbook entry; Alertmanager
(prometheus/alertmanager.yml) silences the warning while the critical fires, and the
consequences of one cause under it (a Redis outage fails the app's health check).
Alerts on a ratio have a traffic floor (mixin/config.py): one slow request or one failed
run of an hourly task is 100% of very little.
"""

from __future__ import annotations

from mixin.config import MixinConfig
from prometheus.rules_generator.promql import human_seconds, number, select
from prometheus.rules_generator.rule import alert, group

_LEVELS = (("warning", 0.8), ("critical", 0.9))


def groups(config: MixinConfig) -> list[dict]:
    return [
        group("painel.node.alerts", node(config)),
        group("painel.django.alerts", django(config)),
        group("painel.health.alerts", health(config)),
        group("painel.celery.alerts", celery(config)),
        group("painel.redis.alerts", redis(config)),
        group("painel.exporter.alerts", exporter(config)),
        group("painel.meta.alerts", meta(config)),
    ]


def node(config: MixinConfig) -> list[dict]:
    rules = []
    for name, record, what, description in (
        (
            "NodeCPUHighUsage",
            "instance:painel_node_cpu_utilisation:rate5m",
            "CPU usage is",
            "CPU on {{ $labels.instance }} has been {{ $value | humanizePercentage }} busy for 10 minutes.",
        ),
        (
            "NodeMemoryHighUtilization",
            "instance:painel_node_memory_utilisation:ratio",
            "Memory usage is",
            "Memory on {{ $labels.instance }} has been {{ $value | humanizePercentage }} used for 10 minutes.",
        ),
        (
            "NodeFilesystemAlmostFull",
            "mountpoint:painel_node_filesystem_utilisation:ratio",
            "A filesystem is",
            "Filesystem {{ $labels.mountpoint }} ({{ $labels.device }}) on {{ $labels.instance }} is {{ $value | humanizePercentage }} full.",
        ),
    ):
        for severity, level in _LEVELS:
            percent = f"{number(level * 100)}%"
            summary = f"{what} at or above {percent}{' full' if 'filesystem' in what else ''}."
            rules.append(
                alert(config, name, severity, f"{record} >= {level}", summary, description, "10m")
            )
    return rules


def django(config: MixinConfig) -> list[dict]:
    floor = number(config.error_rate_min_requests_per_second)
    ratio = number(config.error_ratio_threshold)
    percent = f"{config.error_ratio_threshold * 100:g}%"
    latency_floor = number(config.latency_min_requests_per_second)
    threshold = number(config.slow_request_threshold)
    return [
        # Pages on a short window: the budget alerts' hour is too slow for a sudden 2%.
        # Only above a traffic floor: at night a single 500 among a few requests would page.
        alert(
            config,
            "DjangoHighErrorRate",
            "critical",
            f"job:django_http_requests_5xx:ratio_rate5m >= {ratio}\nand on (job)\n"
            f"job:django_http_requests:rate5m > {floor}",
            f"At least {percent} of the app's responses are server errors (5xx).",
            "{{ $value | humanizePercentage }} of the responses of job {{ $labels.job }} were "
            f"5xx over the last 5 minutes, at more than {floor} req/s (below "
            "that the alert stays silent).",
            "5m",
        ),
        # The threshold is a bucket bound, so the p95 only exceeds it when more than 5% of
        # the requests were slower; the floor keeps one slow request of a quiet endpoint
        # (its own p95) from firing.
        alert(
            config,
            "DjangoHighLatency",
            "warning",
            f"endpoint:django_http_request_duration_seconds:p95_rate5m > {threshold}\n"
            "and on (job, endpoint)\n"
            f'endpoint:django_http_request_duration_seconds_bucket:rate5m{{le="+Inf"}} > {latency_floor}',
            "An endpoint's p95 response time is above the slow-request threshold.",
            "The p95 response time of {{ $labels.endpoint }} (job {{ $labels.job }}) is "
            "{{ $value | humanizeDuration }}, above "
            f"{human_seconds(config.slow_request_threshold)}, at more than {latency_floor} req/s "
            "(below that the alert stays silent).",
            "10m",
        ),
        # Fires while any app process drops metric writes (a full, missing or read-only
        # PROMETHEUS_MULTIPROC_DIR): requests are still served, but the dashboards undercount.
        alert(
            config,
            "PainelMetricsDropped",
            "warning",
            "sum by (job, instance, reason) (increase("
            f"{select('painel_metrics_dropped_total', config.app_job_selector)}[5m])) > 0",
            "The app is dropping metric writes.",
            "{{ $labels.instance }} (job {{ $labels.job }}) dropped {{ $value | humanize }} "
            "metric writes over the last 5 minutes ({{ $labels.reason }}): its metrics undercount.",
        ),
    ]


def health(config: MixinConfig) -> list[dict]:
    exporter = config.exporter_job_selector
    return [
        alert(
            config,
            "HealthCheckFailing",
            "critical",
            f"{select('probe_success', exporter)} == 0",
            "A health check is failing.",
            "The health check of {{ $labels.target }} has failed for 2 minutes (probe_success {{ $value }}).",
            "2m",
        ),
        alert(
            config,
            "HealthComponentDown",
            "warning",
            f"{select('health_component_up', exporter)} == 0",
            "A component of the app's health check is down.",
            "Component {{ $labels.component }} of {{ $labels.target }} has reported an error for 5 minutes (health_component_up {{ $value }}).",
            "5m",
        ),
    ]


def celery(config: MixinConfig) -> list[dict]:
    exporter = config.exporter_job_selector
    runs = config.task_failure_min_runs
    processed = "queue_name_name:celery_task_processed:rate10m"
    return [
        alert(
            config,
            "CeleryQueueBacklog",
            "warning",
            f"{select('celery_queue_length', exporter)} > 100",
            "A Celery queue has a backlog.",
            "Queue {{ $labels.queue_name }} has held more than 100 tasks for 15 minutes (now {{ $value }}).",
            "15m",
        ),
        alert(
            config,
            "CeleryTaskHighFailRate",
            "warning",
            f"queue_name_name:celery_task_failed:rate10m\n/ on (job, queue_name, name)\n{processed}\n"
            f"> 0.05\nand on (job, queue_name, name)\n{processed} * 600 >= {runs}",
            "More than 5% of a Celery task's runs fail.",
            "{{ $value | humanizePercentage }} of the runs of {{ $labels.name }} on queue "
            "{{ $labels.queue_name }} failed over the last 10 minutes (at least "
            f"{runs} runs; below that the alert stays silent).",
            "5m",
        ),
        # Only workers that vanished: one that sent worker-offline (a deploy, a scale-down)
        # has no celery_worker_up series, and a vanished one reads 0 until it is back.
        alert(
            config,
            "CeleryWorkerDown",
            "warning",
            f"{select('celery_worker_up', exporter)} == 0",
            "A Celery worker vanished without shutting down.",
            "Celery worker {{ $labels.hostname }} has sent no heartbeat for 5 minutes and did not "
            "say it was leaving (celery_worker_up {{ $value }}).",
            "5m",
        ),
        alert(
            config,
            "CeleryNoWorkerUp",
            "critical",
            f"sum by (job, instance) ({select('celery_queue_length', exporter)}) > 0\n"
            "unless on (job, instance)\n"
            f"sum by (job, instance) ({select('celery_worker_up', exporter)}) > 0",
            "Tasks wait in Celery queues and no worker is up.",
            "{{ $value }} tasks wait in the queues watched by {{ $labels.instance }} and no "
            "Celery worker has been up for 5 minutes.",
            "5m",
        ),
        # The queue lengths vanish with the broker, and CeleryQueueBacklog resolves with them.
        alert(
            config,
            "CeleryBrokerDown",
            "critical",
            f"{select('painel_exporter_celery_broker_up', exporter)} == 0",
            "The exporter cannot reach the Celery broker.",
            "{{ $labels.instance }} has not reached the Celery broker for 2 minutes "
            "(painel_exporter_celery_broker_up {{ $value }}): queue lengths are unknown and "
            "workers cannot take tasks.",
            "2m",
        ),
        alert(
            config,
            "CeleryEventsMissing",
            "warning",
            f"{select('painel_exporter_celery_no_events', exporter)} == 1",
            "No Celery event reaches the exporter.",
            "{{ $labels.instance }} has received no Celery event, not even a heartbeat, for "
            "5 minutes (painel_exporter_celery_no_events {{ $value }}): task and worker "
            "metrics are blind.",
            "5m",
        ),
        alert(
            config,
            "CeleryWorkersWithoutTaskEvents",
            "warning",
            f"{select('painel_exporter_celery_workers_without_task_events', exporter)} > 0",
            "Celery workers process tasks without sending task events.",
            "{{ $value }} live workers seen by {{ $labels.instance }} processed tasks but sent "
            "no task event for 10 minutes: their tasks are not counted.",
            "10m",
        ),
    ]


def redis(config: MixinConfig) -> list[dict]:
    exporter = config.exporter_job_selector
    policy = "redis_maxmemory_policy_info"
    on = "on (job, instance, addr)"
    # Only where a full Redis refuses writes: noeviction, or a volatile-* policy with no
    # key that has a TTL. A cache that evicts (allkeys-*) sits near maxmemory by design.
    noeviction = select(policy, exporter, 'policy="noeviction"')
    volatile = select(policy, exporter, 'policy=~"volatile-.*"')
    refuses_writes = (
        f"{noeviction}\nor {on}\n(\n  {volatile}\n  and {on}\n"
        f"  sum by (job, instance, addr) ({select('redis_db_keys_expiring', exporter)}) == 0\n)"
    )
    return [
        alert(
            config,
            "RedisDown",
            "critical",
            f"{select('redis_up', exporter)} == 0",
            "Redis is down.",
            "Redis at {{ $labels.addr }} has not answered for 2 minutes (redis_up {{ $value }}).",
            "2m",
        ),
        # Only with traffic: a handful of lookups that all miss is no cache problem.
        alert(
            config,
            "RedisHitRateLow",
            "warning",
            "addr:redis_keyspace_hits:ratio_rate5m < 0.8\nand on (job, addr)\n"
            "addr:redis_keyspace_lookups:rate5m > 1",
            "Redis answers less than 80% of key lookups from its keyspace.",
            "The keyspace hit rate of Redis at {{ $labels.addr }} is {{ $value | humanizePercentage }}.",
            "15m",
        ),
        # maxmemory 0 means no limit: those instances never match.
        alert(
            config,
            "RedisMemoryHigh",
            "warning",
            f"{select('redis_memory_used_bytes', exporter)}\n"
            f"/ ({select('redis_memory_max_bytes', exporter)} > 0) >= 0.8\n"
            f"and {on}\n(\n{_indent(refuses_writes)}\n)",
            "Redis uses 80% or more of its maxmemory and will refuse writes when full.",
            "Redis at {{ $labels.addr }} uses {{ $value | humanizePercentage }} of its "
            "maxmemory, with a policy that refuses writes when it is full.",
            "10m",
        ),
        alert(
            config,
            "RedisRejectedConnections",
            "warning",
            f"increase({select('redis_rejected_connections_total', exporter)}[5m]) > 0",
            "Redis refused client connections (maxclients reached).",
            "Redis at {{ $labels.addr }} refused {{ $value | humanize }} connections over the "
            "last 5 minutes: maxclients was reached.",
        ),
        alert(
            config,
            "RedisClientsNearLimit",
            "warning",
            f"{select('redis_connected_clients', exporter)}\n"
            f"/ {select('redis_config_maxclients', exporter)} >= 0.9",
            "Redis has 90% or more of its maxclients connected.",
            "Redis at {{ $labels.addr }} has {{ $value | humanizePercentage }} of its "
            "maxclients connected for 5 minutes; new connections will be refused.",
            "5m",
        ),
    ]


def exporter(config: MixinConfig) -> list[dict]:
    exporter_sel = config.exporter_job_selector
    app = config.app_job_selector
    return [
        alert(
            config,
            "PainelExporterCollectorFailing",
            "warning",
            f"{select('painel_exporter_collector_success', exporter_sel)} == 0",
            "A painel-exporter collector is failing.",
            "Collector {{ $labels.collector }} of {{ $labels.instance }} has failed every scrape for 5 minutes (success {{ $value }}).",
            "5m",
        ),
        # The Errors dashboard reads 0 for a log it cannot read: say so.
        alert(
            config,
            "LogFileUnreadable",
            "warning",
            f"{select('log_file_readable', exporter_sel)} == 0",
            "A log file the exporter follows is missing or unreadable.",
            "Log {{ $labels.log }} on {{ $labels.instance }} has been missing or unreadable for "
            "10 minutes (log_file_readable {{ $value }}): its errors are not counted.",
            "10m",
        ),
        alert(
            config,
            "TargetDown",
            "warning",
            f"{select('up', app)} == 0\nor\n{select('up', exporter_sel)} == 0",
            "Prometheus cannot scrape a target.",
            "Target {{ $labels.instance }} of job {{ $labels.job }} has been down for 5 minutes (up {{ $value }}).",
            "5m",
        ),
        # up == 0 needs a series: a target gone from service discovery has none. An
        # equality job selector gives absent() its job label.
        alert(
            config,
            "TargetMissing",
            "warning",
            f"absent({select('up', app)})\nor\nabsent({select('up', exporter_sel)})",
            "Prometheus has no target of the app or of painel-exporter.",
            "Prometheus has had no target of job {{ $labels.job }} for 5 minutes (selectors "
            f"{{{app}}} and {{{exporter_sel}}}): it is not scraped "
            "at all, and no alert on its metrics can fire.",
            "5m",
        ),
    ]


def meta(config: MixinConfig) -> list[dict]:
    return [
        # The dead man's switch: routed to a receiver that expects it and pages when it stops.
        alert(
            config,
            "Watchdog",
            "none",
            "vector(1)",
            "Always firing: proof that Prometheus and Alertmanager deliver alerts.",
            "This alert always fires. When your dead man's switch stops receiving it, the "
            "alerting pipeline is broken.",
        )
    ]


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())
