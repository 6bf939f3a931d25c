"""The metrics a query or rule may use, and their labels: catalog.known_metrics() and
catalog.known_labels(), which read the README, and the shared contract's names, which the
README must document."""

from __future__ import annotations

import functools

from grafana.catalog import known_labels, known_metrics

# The shared contract's metric names (the issue texts), by type.
CONTRACT = {
    "counter": [
        "django_http_requests_total",
        "django_http_slow_requests_total",
        "django_http_exceptions_total",
        "celery_task_sent_total",
        "celery_task_received_total",
        "celery_task_started_total",
        "celery_task_succeeded_total",
        "celery_task_failed_total",
        "celery_task_retried_total",
        "celery_task_revoked_total",
        "celery_task_rejected_total",
        "log_messages_total",
        "log_exceptions_total",
        "log_lines_unparsed_total",
        "log_rotations_total",
        "node_cpu_seconds_total",
        "node_disk_read_bytes_total",
        "node_disk_written_bytes_total",
        "node_network_receive_bytes_total",
        "node_network_transmit_bytes_total",
        "redis_keyspace_hits_total",
        "redis_keyspace_misses_total",
        "redis_commands_processed_total",
        "redis_expired_keys_total",
        "redis_evicted_keys_total",
        "redis_commands_total",
        "redis_commands_duration_seconds_total",
    ],
    "histogram": ["django_http_request_duration_seconds", "celery_task_runtime"],
    "gauge": [
        "celery_queue_length",
        "celery_worker_up",
        "celery_worker_tasks_active",
        "painel_slow_request_duration_seconds",
        "painel_slow_request_timestamp_seconds",
        "probe_success",
        "probe_duration_seconds",
        "probe_http_status_code",
        "health_component_up",
        "painel_exporter_collector_success",
        "painel_exporter_collector_duration_seconds",
        "painel_exporter_build_info",
        "node_load1",
        "node_load5",
        "node_load15",
        "node_memory_MemTotal_bytes",
        "node_memory_MemAvailable_bytes",
        "node_memory_SwapTotal_bytes",
        "node_memory_SwapFree_bytes",
        "node_filesystem_size_bytes",
        "node_filesystem_avail_bytes",
        "node_filesystem_free_bytes",
        "node_boot_time_seconds",
        "redis_up",
        "redis_uptime_in_seconds",
        "redis_connected_clients",
        "redis_memory_used_bytes",
        "redis_memory_max_bytes",
        "redis_db_keys",
        "redis_latency_seconds",
    ],
}


@functools.cache
def published_metrics() -> dict[str, str]:
    return known_metrics()


@functools.cache
def published_labels() -> dict[str, set[str]]:
    return known_labels()
