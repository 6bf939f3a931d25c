"""The metrics a query or rule may use: catalog.known_metrics(), which reads the README.

While the other parts of painel are still documenting their metrics, the names of the
shared contract that the README lacks are added with a warning, so that the missing rows
show in the test report instead of failing the dashboards for someone else's table.
"""

from __future__ import annotations

import functools
import warnings

from grafana.catalog import expand_histograms, known_metrics

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
    known = known_metrics()
    contract = {name: kind for kind, names in CONTRACT.items() for name in names}
    missing = {name: kind for name, kind in contract.items() if name not in known}
    if missing:
        warnings.warn(
            f"README Metrics tables lack contract metrics: {sorted(missing)}", stacklevel=2
        )
    return {**expand_histograms(missing), **known}
