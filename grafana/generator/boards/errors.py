"""Errors: what fails and how often, from the app's responses and its log records, and how
much of the error budget is left."""

from __future__ import annotations

from grafana_foundation_sdk.builders import barchart, bargauge, dashboard
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import DataTransformerConfig

from grafana.generator.panels import (
    CHOSEN_TENANTS,
    app,
    app_recorded,
    config,
    exporter,
    framed,
    new_dashboard,
    query,
    range_total,
    ranked,
    recorded,
    requests_link,
    series,
    stat_panel,
    table_panel,
    thresholds,
    time_series,
    with_targets,
    with_tenant_and_endpoint,
)
from prometheus.rules_generator.slo import (
    BURN_ALERTS,
    budget_remaining_rule,
    burn_factor,
    burn_rate_rule,
)

UID = "painel-errors"
# The logs collector labels levels in lower case, FATAL counted as critical.
ERROR_LEVELS = 'level=~"error|critical"'
# The app's panels filter on the two variables (and $job, $cluster: panels.app...); log
# records carry neither label.
FILTER = 'tenant=~"$tenant", endpoint=~"$endpoint"'
SERVER_ERRORS = 'status=~"5.."'
RATES = "endpoint_method_tenant_status:django_http_requests:rate5m"


def alert_bounds() -> tuple[float, float]:
    """The budget-burn alerts' bounds (14.4 pages, 6 over 6 hours warns, for 30 days)."""
    page, ticket = (burn_factor(config(), burn) for burn in BURN_ALERTS)
    return page, ticket


def hour_by_hour(selector: str) -> str:
    # `offset -1h` counts the hour that starts at each step (Grafana aligns a 1 h step to
    # the hour): each bar stands on its own hour, and the last step, the current hour's
    # start, counts the hour in progress up to now.
    return f"sum(increase({selector}[1h] offset -1h))"


def errors_per_hour() -> dashboard.Panel:
    panel = (
        framed(
            barchart.Panel(),
            "Errors per hour (last 24 hours)",
            "Server errors (5xx responses of the selected tenants and endpoints) and log "
            "records at ERROR or above, per hour: each bar counts the hour it starts at, the "
            "last one the hour in progress so far.",
            "short",
            width=24,
            height=8,
        )
        .x_field("Time")
        .x_tick_label_spacing(100)
        .show_value(common.VisibilityMode.NEVER)
        .group_width(0.8)
        .bar_width(0.95)
        .fill_opacity(80)
        .stacking(common.StackingMode.NONE)
        .legend(
            common_builders.VizLegendOptions()
            .show_legend(True)
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
        )
        .tooltip(common_builders.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI))
        # One frame, one row per hour: the two series' bars side by side.
        .with_transformation(
            DataTransformerConfig(
                id_val="joinByField", options={"byField": "Time", "mode": "outer"}
            )
        )
        .interval("1h")
        .time_from("24h")
        .hide_time_override(False)
    )
    return with_targets(
        panel,
        [
            query(
                hour_by_hour(f"django_http_requests_total{{{app(FILTER, SERVER_ERRORS)}}}"),
                "5xx responses",
            ),
            query(
                hour_by_hour(f"log_messages_total{{{exporter(ERROR_LEVELS)}}}"),
                "log records at ERROR or above",
            ),
        ],
    )


def top_log_exceptions() -> dashboard.Panel:
    panel = (
        framed(
            bargauge.Panel(),
            "5 most frequent exception types in the logs",
            "Over the selected time range: the exception types of the tracebacks in the app's "
            "logs (the exporter's logs collector, every log it follows), most frequent first.",
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
                "sort_desc(topk(5, sum by (exception) "
                f"(increase(log_exceptions_total{{{exporter()}}}[$__range]))))",
                "{{exception}}",
                instant=True,
            )
        ],
    )


def top_view_exceptions() -> dashboard.Panel:
    by = "exception, endpoint"
    return table_panel(
        "5 most frequent exceptions raised by views",
        "Over the selected time range: the exception types views of the selected tenants and "
        "endpoints raised most often, and where. A row opens the Requests board on its endpoint.",
        "none",
        [
            query(
                f"topk(5, sum by ({by}) "
                f"(increase(django_http_exceptions_total{{{app(FILTER)}}}[$__range])))",
                instant=True,
                table_format=True,
            )
        ],
        rename={"exception": "Exception", "endpoint": "Endpoint", "Value": "Raised"},
        units={"Raised": "short"},
        sort_by="Raised",
    ).data_links([requests_link("Requests of ${__data.fields.endpoint}", endpoint="endpoint")])


def server_errors_by_endpoint() -> dashboard.Panel:
    rule = f"{RATES}{{{app_recorded(FILTER, SERVER_ERRORS)}}}"
    shown = f"sum by (endpoint) ({recorded(rule)})"
    score = range_total(f"django_http_requests_total{{{app(FILTER, SERVER_ERRORS)}}}", "endpoint")
    return time_series(
        "Server errors by endpoint",
        "5xx responses per second (5-minute rates) of the 10 endpoints with the most over the "
        "selected time range.",
        "reqps",
        [query(ranked(10, "endpoint", shown, score), "{{endpoint}}")],
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


def budget(slo: str) -> str:
    return series(budget_remaining_rule(config(), slo), app_recorded())


def error_budget_left() -> dashboard.Panel:
    window = config().slo_window
    return stat_panel(
        f"Error budget left ({window})",
        f"Per job, the share of the {window} error budget not spent yet: availability "
        f"({config().availability_objective:.1%} of responses not 5xx) and latency "
        f"({config().latency_objective:.0%} within the slow-request threshold). Below 0 the "
        "objective is missed.",
        "percentunit",
        [
            query(budget("availability"), "availability {{job}}", instant=True),
            query(budget("latency"), "latency {{job}}", instant=True),
        ],
        colours=thresholds((None, "red"), (0, "orange"), (0.25, "green")),
        width=8,
        height=8,
    )


def burn_rates() -> dashboard.Panel:
    page, ticket = alert_bounds()
    return time_series(
        "Error budget burn rate (1 hour)",
        "How many times faster than sustainable each job spends its budgets, over the last "
        f"hour: 1 spends exactly the budget in {config().slo_window}; the dashed lines are the "
        f"alerts' bounds ({page:g} pages, {ticket:g} over 6 hours opens a "
        "ticket).",
        "short",
        [
            query(
                series(burn_rate_rule("availability", "1h"), app_recorded()), "availability {{job}}"
            ),
            query(series(burn_rate_rule("latency", "1h"), app_recorded()), "latency {{job}}"),
        ],
        threshold_lines=thresholds((None, "transparent"), (ticket, "orange"), (page, "red")),
        width=8,
    )


def tenants_burning_fastest() -> dashboard.Panel:
    budget = 1 - config().availability_objective
    ratio = series("tenant:django_http_requests_5xx:ratio_rate1h", app_recorded(CHOSEN_TENANTS))
    burn = f"{ratio} / {budget:g}"
    panel = (
        framed(
            bargauge.Panel(),
            "Tenants burning the availability budget fastest (1 hour)",
            "The 5 tenants whose share of 5xx responses over the last hour is the highest, as "
            "a burn rate: how many times the budget's sustainable rate (1 spends exactly the "
            f"budget in {config().slo_window}).",
            "short",
            width=8,
            height=8,
        )
        .display_mode(common.BarGaugeDisplayMode.GRADIENT)
        .orientation(common.VizOrientation.HORIZONTAL)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .thresholds(thresholds((None, "green"), (1, "orange"), (alert_bounds()[0], "red")))
    )
    return with_targets(
        panel,
        [query(f"sort_desc(topk(5, {burn} > 0))", "{{tenant}} ({{job}})", instant=True)],
    )


def build() -> dashboard.Dashboard:
    return (
        with_tenant_and_endpoint(
            new_dashboard(
                UID,
                "painel / Errors",
                "Errors per hour, the most frequent exceptions in the logs and from views, log "
                "records by level, and the error budget left.",
                "now-24h",
                shows_app=True,
            )
        )
        .with_panel(errors_per_hour())
        .with_panel(top_log_exceptions())
        .with_panel(top_view_exceptions())
        .with_panel(server_errors_by_endpoint())
        .with_panel(log_records_by_level())
        .with_panel(log_exceptions())
        .with_row(dashboard.Row(f"Error budget ({config().slo_window})"))
        .with_panel(error_budget_left())
        .with_panel(burn_rates())
        .with_panel(tenants_burning_fastest())
    )
