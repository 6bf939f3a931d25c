"""Error budgets: multi-window, multi-burn-rate alerts per job, as in the SRE workbook.

Two objectives per job of the app: availability (responses that are not 5xx) and latency
(responses within the slow-request threshold, read from the histogram bucket of that
bound). A burn rate is the error ratio over a window divided by the budget (1 - objective):
1 spends the budget exactly over the SLO window. The page (critical) fires when 2% of the
window's budget went in the last hour and the last 5 minutes still burn as fast; the
ticket (warning) when 5% went in 6 hours and the last 30 minutes still burn. With a 30-day
window those are the workbook's factors, 14.4 and 6.

Recorded: the burn rate of each window, the share of the budget left over the SLO window
(from the 5-minute rates, one series per job), and each tenant's error ratio over the hour
(which tenants burn it fastest).
"""

from __future__ import annotations

from dataclasses import dataclass

from mixin.config import MixinConfig
from prometheus.rules_generator.promql import human_seconds, le, number
from prometheus.rules_generator.recording import DURATION, rate_sum, server_errors_rate
from prometheus.rules_generator.rule import alert, group, record

SHORT_WINDOWS = ("5m", "30m", "1h", "6h")


@dataclass(frozen=True)
class BurnAlert:
    severity: str
    long: str
    short: str
    budget_share: float  # of the whole window's budget, spent within `long`
    hours: float  # the long window in hours
    for_: str


BURN_ALERTS = (
    BurnAlert("critical", "1h", "5m", 0.02, 1, "2m"),
    BurnAlert("warning", "6h", "30m", 0.05, 6, "15m"),
)


def burn_factor(config: MixinConfig, burn: BurnAlert) -> float:
    return burn.budget_share * config.slo_window_hours / burn.hours


def burn_rate_rule(slo: str, window: str) -> str:
    return f"job:django_http_{slo}:burn_rate{window}"


def budget_remaining_rule(config: MixinConfig, slo: str) -> str:
    return f"job:django_http_{slo}:budget_remaining{config.slo_window}"


def groups(config: MixinConfig) -> list[dict]:
    return [
        group("painel.slo.rules", [*availability_rules(config), *latency_rules(config)]),
        group("painel.slo.alerts", alerts(config)),
    ]


def availability_rules(config: MixinConfig) -> list[dict]:
    app = config.app_job_selector
    budget = number(1 - config.availability_objective)
    rules = [
        record(
            burn_rate_rule("availability", window),
            f"(\n{_indent(server_errors_rate('job', config, window))}\n)\n/ on (job)\n"
            f"{rate_sum('job', 'django_http_requests_total', app, window)}\n/ {budget}",
        )
        for window in SHORT_WINDOWS
    ]
    window = config.slo_window
    rules.append(
        record(
            budget_remaining_rule(config, "availability"),
            f"1 - (\n  sum_over_time(job:django_http_requests_5xx:rate5m[{window}])\n"
            f"  / on (job)\n  sum_over_time(job:django_http_requests:rate5m[{window}])\n) / {budget}",
        )
    )
    rules.append(
        record(
            "tenant:django_http_requests_5xx:ratio_rate1h",
            f"(\n{_indent(server_errors_rate('job, tenant', config, '1h'))}\n)\n/ on (job, tenant)\n"
            f"{rate_sum('job, tenant', 'django_http_requests_total', app, '1h')}",
        )
    )
    return rules


def latency_rules(config: MixinConfig) -> list[dict]:
    app = config.app_job_selector
    budget = number(1 - config.latency_objective)
    fast = le(config.slow_request_threshold)
    rules = [
        record(
            burn_rate_rule("latency", window),
            f"(\n  1 -\n  {rate_sum('job', f'{DURATION}_bucket', app, window, fast)}\n"
            f"  / on (job)\n  {rate_sum('job', f'{DURATION}_count', app, window)}\n)\n/ {budget}",
        )
        for window in SHORT_WINDOWS
    ]
    window = config.slo_window
    rules.append(
        record(
            budget_remaining_rule(config, "latency"),
            f"1 - (\n  1 -\n  sum by (job) (sum_over_time("
            f"job:django_http_request_duration_seconds_bucket:rate5m{{{fast}}}[{window}]))\n"
            f"  / on (job)\n  sum_over_time(job:django_http_request_duration_seconds_count:rate5m"
            f"[{window}])\n) / {budget}",
        )
    )
    return rules


def alerts(config: MixinConfig) -> list[dict]:
    availability = f"{number(config.availability_objective * 100)}% of responses not 5xx"
    latency = (
        f"{number(config.latency_objective * 100)}% of responses within "
        f"{human_seconds(config.slow_request_threshold)}"
    )
    rules = []
    for name, slo, objective in (
        ("DjangoErrorBudgetBurn", "availability", availability),
        ("DjangoLatencyBudgetBurn", "latency", latency),
    ):
        for burn in BURN_ALERTS:
            factor = number(burn_factor(config, burn))
            long, short = burn_rate_rule(slo, burn.long), burn_rate_rule(slo, burn.short)
            spent = f"{number(burn.budget_share * 100)}%"
            rules.append(
                alert(
                    config,
                    name,
                    burn.severity,
                    f"{long} > {factor}\nand on (job)\n{short} > {factor}",
                    f"The app spends its {slo} error budget {factor} times as fast as it may.",
                    f"Job {{{{ $labels.job }}}} burned its {slo} error budget ({objective} over "
                    f'{config.slo_window}) {{{{ $value | printf "%.1f" }}}} times as fast as '
                    f"sustainable over the last {burn.long}, and still does over the last "
                    f"{burn.short}: {spent} of the {config.slo_window} budget in {burn.long}.",
                    for_=burn.for_,
                )
            )
    return rules


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())
