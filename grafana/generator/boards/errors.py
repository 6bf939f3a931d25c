"""Errors: what fails and how often, from the app's responses and its log records."""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, dashboard
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.models import common

from grafana.generator.panels import (
    app,
    app_recorded,
    exporter,
    framed,
    new_dashboard,
    query,
    thresholds,
    time_series,
    with_targets,
)

UID = "painel-errors"
# The logs collector labels levels in lower case, FATAL counted as critical.
ERROR_LEVELS = 'level=~"error|critical"'
SERVER_ERRORS = 'status=~"5.."'


def errors_per_hour() -> dashboard.Panel:
    # Non-overlapping hourly bars: a one-hour step and increase over exactly one hour.
    panel = time_series(
        "Errors per hour (last 24 hours)",
        "Server errors (5xx responses) and log records at ERROR or above, per hour.",
        "short",
        [
            query(
                f"sum(increase(django_http_requests_total{{{app(SERVER_ERRORS)}}}[1h]))",
                "5xx responses",
            ),
            query(
                f"sum(increase(log_messages_total{{{exporter(ERROR_LEVELS)}}}[1h]))",
                "log records at ERROR or above",
            ),
        ],
        bars=True,
        width=24,
    )
    return panel.interval("1h").time_from("24h").hide_time_override(False)


def top_exceptions() -> dashboard.Panel:
    panel = (
        framed(
            bargauge.Panel(),
            "5 most frequent exception types",
            "Over the selected time range: the exception classes views raised most often.",
            "short",
            width=12,
            height=8,
        )
        .display_mode(common.BarGaugeDisplayMode.GRADIENT)
        .orientation(common.VizOrientation.HORIZONTAL)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .thresholds(thresholds((None, "orange"), (100, "red")))
    )
    return with_targets(
        panel,
        [
            query(
                "topk(5, sum by (exception) "
                f"(increase(django_http_exceptions_total{{{app()}}}[$__range])))",
                "{{exception}}",
                instant=True,
            )
        ],
    )


def log_records_by_level() -> dashboard.Panel:
    return time_series(
        "Log records by level",
        "Log records per second that the exporter read from the app's logs, per level.",
        "cps",
        [
            query(
                f"sum by (level) (rate(log_messages_total{{{exporter()}}}[$__rate_interval]))",
                "{{level}}",
            )
        ],
        stacked=True,
    )


def server_errors_by_endpoint() -> dashboard.Panel:
    return time_series(
        "Server errors by endpoint",
        "5xx responses per second of the 10 endpoints with the most (5-minute rates).",
        "reqps",
        [
            query(
                "topk(10, sum by (endpoint) (endpoint_method_tenant_status:django_http_requests"
                f":rate5m{{{app_recorded(SERVER_ERRORS)}}}))",
                "{{endpoint}}",
            )
        ],
    )


def log_exceptions() -> dashboard.Panel:
    return time_series(
        "Exceptions in the logs",
        "Log records carrying a traceback per second, per exception class and log.",
        "cps",
        [
            query(
                "sum by (log, exception) "
                f"(rate(log_exceptions_total{{{exporter()}}}[$__rate_interval]))",
                "{{exception}} ({{log}})",
            )
        ],
    )


def build() -> dashboard.Dashboard:
    return (
        new_dashboard(
            UID,
            "painel / Errors",
            "Errors per hour, the most frequent exceptions and log records by level.",
            "now-24h",
            shows_app=True,
        )
        .with_panel(errors_per_hour())
        .with_panel(top_exceptions())
        .with_panel(server_errors_by_endpoint())
        .with_panel(log_records_by_level())
        .with_panel(log_exceptions())
    )
