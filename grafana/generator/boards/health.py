"""Health and trends: health-check history, uptime, probe times, and today against yesterday."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard, statetimeline
from grafana_foundation_sdk.models.common import VisibilityMode
from grafana_foundation_sdk.models.dashboard import (
    DynamicConfigValue,
    VariableHide,
    VariableOption,
    VariableRefresh,
)

from grafana.generator.panels import (
    DATASOURCE,
    app_recorded,
    exporter,
    framed,
    label_variable,
    new_dashboard,
    one_zero_mappings,
    query,
    stat_panel,
    status_code_mappings,
    thresholds,
    time_series,
    with_targets,
)

UID = "painel-health"
TARGET = 'target=~"$target"'
HISTORY_CHECKS = 50
DEFAULT_INTERVAL_SECONDS = 15  # the exporter's --interval default


def checks() -> str:
    return f"health_checks_total{{{exporter(TARGET)}}}"


def failures() -> str:
    return f"health_check_failures_total{{{exporter(TARGET)}}}"


def check_interval() -> str:
    """The exporter's --interval, read from its check counter: checks come at a steady pace,
    so the counter's slope over the last 10 minutes is 1 / interval (deriv, unlike rate, does
    not divide by the whole window, so a counter a few minutes old reads right too); the
    default while no check has been counted yet."""
    return f"round(1 / max(deriv({checks()}[10m]) > 0)) or vector({DEFAULT_INTERVAL_SECONDS})"


def result_variable(name: str, expr: str, default: int) -> dashboard.QueryVariable:
    """A hidden variable holding the number `expr` evaluates to (Grafana's query_result)."""
    return (
        dashboard.QueryVariable(name)
        .datasource(DATASOURCE)
        .query(f"query_result({expr})")
        .regex(r"/^\{\} (\d+) /")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .hide(VariableHide.HIDE_VARIABLE)
        .current(VariableOption(selected=True, text=str(default), value=str(default)))
    )


def history(title: str, description: str, expr: str, legend: str) -> dashboard.Panel:
    # One cell per check: the step is the exporter's interval and the panel spans 50 of
    # them, both read from the check counter (the `check_interval` and `history_range`
    # variables), so it holds the last 50 checks whatever --interval is.
    panel = (
        framed(statetimeline.Panel(), title, description, "none", width=12, height=8)
        .mappings(one_zero_mappings("ok", "failed"))
        .show_value(VisibilityMode.NEVER)
        .interval("${check_interval}s")
        .max_data_points(HISTORY_CHECKS)
        .time_from("${history_range}s")
        .legend(common_builders.VizLegendOptions().show_legend(False))
    )
    return with_targets(panel, [query(expr, legend)])


def uptime(window: str) -> dashboard.Panel:
    # From the probe counters, not by sampling probe_success: checks made while Prometheus
    # was down are still counted when it is back, and a time without checks (the exporter
    # down) counts neither as up nor as down, instead of as the last value seen.
    failed = f"sum by (target) (increase({failures()}[$__range]))"
    made = f"sum by (target) (increase({checks()}[$__range]))"
    return stat_panel(
        f"Uptime over {window.replace('d', ' days').replace('h', ' hours')}",
        f"Share of the health checks made over the last {window} that succeeded, per target "
        "(checks counted by the exporter: 1 - failed / made).",
        "percentunit",
        [query(f"1 - ({failed} or 0 * {made}) / ({made} > 0)", "{{target}}", instant=True)],
        colours=thresholds((None, "red"), (0.99, "orange"), (0.999, "green")),
        width=6,
    ).time_from(window)


def change_query(now: str, yesterday: str) -> str:
    """Percent change with the arrow as a label: ▲ for up (or equal), ▼ for down; when
    yesterday had nothing (0 or no series) and now has some, a series without the label
    whose value is NaN, which the panel shows as "new" (instead of +Inf%)."""
    # Bracketed: either side may be a quotient itself (the average response time).
    change = f"100 * (({now}) / (({yesterday}) > 0) - 1)"
    new = f"0 * (({now}) > 0 unless on () ({yesterday}) > 0) / 0"
    return (
        f'label_replace({change} >= 0, "direction", "▲", "", "")'
        f' or label_replace({change} < 0, "direction", "▼", "", "")'
        f" or {new}"
    )


def day_over_day(title: str, unit: str, template: str, up_is_good: bool) -> dashboard.Panel:
    """`template` now, `template` yesterday and the change: {offset} in `template` is where
    `offset 1d` goes; `up_is_good` colours a rise green, else red."""
    now = template.format(offset="")
    yesterday = template.format(offset=" offset 1d")
    good, bad = ("green", "red") if up_is_good else ("red", "green")
    panel = stat_panel(
        f"{title}: now and yesterday",
        f"{title} now (5-minute rate), at the same time yesterday, and the change in percent "
        'with an arrow up or down ("new" when yesterday had none).',
        unit,
        [
            query(now, "now", instant=True),
            query(yesterday, "yesterday", instant=True),
            query(change_query(now, yesterday), "{{direction}} change", instant=True),
        ],
        width=6,
    )
    return panel.override_by_query(
        "C",
        [
            DynamicConfigValue(id_val="unit", value="percent"),
            # The NaN of "nothing yesterday" (null once Grafana drops NaN as not a value).
            DynamicConfigValue(
                id_val="mappings",
                value=[
                    {
                        "type": "special",
                        "options": {
                            "match": "null+nan",
                            "result": {"text": "new", "color": good, "index": 0},
                        },
                    }
                ],
            ),
            DynamicConfigValue(
                id_val="thresholds",
                value={
                    "mode": "absolute",
                    "steps": [{"value": None, "color": bad}, {"value": 0, "color": good}],
                },
            ),
        ],
    )


def health_check_history() -> dashboard.Panel:
    return history(
        "Health-check history (last 50 checks)",
        "Each cell is one health check of the target's /health: ok or failed.",
        f"probe_success{{{exporter(TARGET)}}}",
        "{{target}}",
    )


def component_history() -> dashboard.Panel:
    return history(
        "Components (last 50 checks)",
        "Each component the target's /health reports (database, cache, broker...).",
        f"health_component_up{{{exporter(TARGET)}}}",
        "{{target}} {{component}}",
    )


def last_http_status() -> dashboard.Panel:
    return stat_panel(
        "Last HTTP status",
        "Status code of the last health check (0: no answer).",
        "none",
        [query(f"probe_http_status_code{{{exporter(TARGET)}}}", "{{target}}", instant=True)],
        mappings=status_code_mappings(),
        width=12,
    )


def health_check_response_time() -> dashboard.Panel:
    return time_series(
        "Health-check response time",
        "How long each health check took to answer.",
        "s",
        [query(f"probe_duration_seconds{{{exporter(TARGET)}}}", "{{target}}")],
        width=24,
    )


def recorded(metric: str) -> str:
    """A recording rule's app series of the selected jobs, `{offset}` after it (day_over_day)."""
    return f"{metric}{{{{{app_recorded()}}}}}{{offset}}"


def requests_against_yesterday() -> dashboard.Panel:
    return day_over_day(
        "Requests per second", "reqps", f"sum({recorded('job:django_http_requests:rate5m')})", True
    )


def server_errors_against_yesterday() -> dashboard.Panel:
    return day_over_day(
        "Server errors per second",
        "reqps",
        f"sum({recorded('job:django_http_requests_5xx:rate5m')})",
        False,
    )


def p95_against_yesterday() -> dashboard.Panel:
    return day_over_day(
        "p95 response time",
        "s",
        "histogram_quantile(0.95, sum by (le) "
        f"({recorded('job:django_http_request_duration_seconds_bucket:rate5m')}))",
        False,
    )


def average_response_time_against_yesterday() -> dashboard.Panel:
    return day_over_day(
        "Average response time",
        "s",
        f"sum({recorded('job:django_http_request_duration_seconds_sum:rate5m')})"
        f" / sum({recorded('job:django_http_request_duration_seconds_count:rate5m')})",
        False,
    )


def build() -> dashboard.Dashboard:
    return (
        new_dashboard(
            UID,
            "painel / Health and trends",
            "Health-check history and uptime per target, probe response times, and requests, "
            "errors and response times against the same time yesterday.",
            "now-24h",
            shows_app=True,
        )
        .with_variable(
            label_variable("target", "Target", f"probe_success{{{exporter()}}}", "target")
        )
        .with_variable(
            result_variable("check_interval", check_interval(), DEFAULT_INTERVAL_SECONDS)
        )
        .with_variable(
            result_variable(
                "history_range",
                f"{HISTORY_CHECKS} * ({check_interval()})",
                HISTORY_CHECKS * DEFAULT_INTERVAL_SECONDS,
            )
        )
        .with_row(dashboard.Row("Health checks"))
        .with_panel(health_check_history())
        .with_panel(component_history())
        .with_panel(uptime("24h"))
        .with_panel(uptime("7d"))
        .with_panel(last_http_status())
        .with_panel(health_check_response_time())
        .with_row(dashboard.Row("Today against yesterday"))
        .with_panel(requests_against_yesterday())
        .with_panel(server_errors_against_yesterday())
        .with_panel(p95_against_yesterday())
        .with_panel(average_response_time_against_yesterday())
    )
