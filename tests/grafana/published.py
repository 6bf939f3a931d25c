"""The metrics a query or rule may use: catalog.known_metrics(), which reads the README,
and the shared contract's names, which the README must document."""

from __future__ import annotations

import functools

from grafana.catalog import known_metrics

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
    ],
}


@functools.cache
def published_metrics() -> dict[str, str]:
    return known_metrics()
