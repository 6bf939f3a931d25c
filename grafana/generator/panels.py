"""The few building blocks every painel dashboard is made of, on top of grafana-foundation-sdk.

Every panel and every target reads from the `$datasource` variable (never a fixed data source,
so a dashboard imported by hand works with any Prometheus), and every panel has a unit.

Dashboards are rendered with the rules' MixinConfig (`rendering_with(config)`, set by
generate.py). A query never writes its label matchers by hand: it takes them from
`app()`, `app_recorded()`, `exporter()` or `scoped()`, which add the configured job
selectors and the `$job` / `$cluster` variables, so that two apps on one Prometheus are
never summed together and a new panel is scoped like every other.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DashboardLinkType,
    DashboardRangeMapOptions,
    DataSourceRef,
    DataTransformerConfig,
    DynamicConfigValue,
    RangeMap,
    Threshold,
    ThresholdsMode,
    ValueMap,
    ValueMappingResult,
    VariableOption,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from mixin.config import MixinConfig
from prometheus.rules_generator.promql import number

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
REF_IDS = "ABCDEFGHIJ"
# The app's jobs the dashboard shows: a variable, so that two apps are never summed.
JOB = 'job=~"$job"'
# Series every app scrape has, to list the jobs and clusters from.
APP_METRIC = "django_http_requests_total"
EXPORTER_METRIC = "painel_exporter_build_info"

_DEFAULTS = MixinConfig()
# Frozen, so sharing the one default instance is safe.
_CONFIG: ContextVar[MixinConfig] = ContextVar("painel_dashboard_config", default=_DEFAULTS)  # noqa: B039


# Every painel dashboard carries this tag: the links between them are the tag's dashboards.
TAG = "painel"


class _Raw(cogbuilder.Builder):
    """A piece of the JSON model written as Grafana stores it, where the SDK's model lacks
    fields (a Prometheus annotation's step, title and tag keys) or adds others (a data link)."""

    def __init__(self, model: dict) -> None:
        self._model = model

    def build(self) -> dict:
        return self._model


def alerts_annotation() -> _Raw:
    """Firing alerts as annotations: one region per alert and series, titled with its name."""
    return _Raw(
        {
            "name": "Firing alerts",
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "enable": True,
            "iconColor": "red",
            "expr": series("ALERTS", scoped('alertstate="firing"')),
            "step": "60s",
            "titleFormat": "{{alertname}}",
            "textFormat": "{{severity}}: {{job}} {{instance}}",
            "tagKeys": "alertname,severity",
            "useValueForTime": False,
        }
    )


@contextmanager
def rendering_with(config: MixinConfig) -> Iterator[MixinConfig]:
    """Build dashboards with `config` (its selectors, threshold, runbook, cluster label)."""
    token = _CONFIG.set(config)
    try:
        yield config
    finally:
        _CONFIG.reset(token)


def config() -> MixinConfig:
    """The configuration the dashboards are being built with (the defaults unless
    `rendering_with` says otherwise)."""
    return _CONFIG.get()


def slow_threshold() -> float:
    """Seconds: the slow-request threshold the rules' latency SLO and alert use."""
    return config().slow_request_threshold


def slow_threshold_text() -> str:
    """The threshold as the descriptions write it: 500 ms, 2.5 s."""
    seconds = slow_threshold()
    return f"{number(seconds * 1000)} ms" if seconds < 1 else f"{number(seconds)} s"


def _cluster() -> list[str]:
    label = config().cluster_label
    return [f'{label}=~"$cluster"'] if label else []


def _join(*parts: str) -> str:
    return ", ".join(part for part in parts if part)


def app(*matchers: str) -> str:
    """Label matchers (no braces) of the app's raw series: the configured app selector, the
    `$cluster` and `$job` variables, then `matchers`."""
    return _join(config().app_job_selector, *_cluster(), JOB, *matchers)


def app_recorded(*matchers: str) -> str:
    """Label matchers of a recording rule's app series: `$cluster`, `$job`, `matchers`. The
    rules already read only the app's jobs and keep `job` (and the cluster label) but drop
    the selector's other labels, so the selector itself would match nothing here."""
    return _join(*_cluster(), JOB, *matchers)


def exporter(*matchers: str) -> str:
    """Label matchers of the exporter's raw series: the configured exporter selector,
    `$cluster`, then `matchers`. No job variable: an exporter's job says nothing of which
    app it watches; its own labels (instance, target, addr, queue_name, log) do, and the
    dashboards have variables on those."""
    return _join(config().exporter_job_selector, *_cluster(), *matchers)


def scoped(*matchers: str) -> str:
    """Label matchers of any other series (the exporter's recording rules, ALERTS):
    `$cluster` when there is one, then `matchers`."""
    return _join(*_cluster(), *matchers)


def series(metric: str, matchers: str) -> str:
    """`metric{matchers}`, or the bare name when there are none."""
    return f"{metric}{{{matchers}}}" if matchers else metric


def new_dashboard(
    uid: str, title: str, description: str, time_from: str, *, shows_app: bool = False
) -> dashboard.Dashboard:
    """A dashboard with painel's defaults, the `datasource` variable every panel uses, a
    `cluster` variable when the configuration names a cluster label, the `job` variable
    when it shows the app's series (`shows_app`), and a link to the runbook."""
    settings = config()
    board = (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags([TAG])
        .time(time_from, "now")
        .refresh("1m")
        .timezone("browser")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .link(
            dashboard.DashboardLink("Runbook")
            .type(DashboardLinkType.LINK)
            .url(settings.runbook_base_url)
            .tooltip("What to do when one of painel's alerts fires")
            .icon("doc")
            .target_blank(True)
        )
        .link(
            dashboard.DashboardLink("painel dashboards")
            .type(DashboardLinkType.DASHBOARDS)
            .tags([TAG])
            .as_dropdown(False)
            .include_vars(True)
            .keep_time(True)
        )
        .annotation(alerts_annotation())
        .with_variable(
            dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus")
        )
    )
    if settings.cluster_label:
        source = (
            series(APP_METRIC, settings.app_job_selector)
            if shows_app
            else series(EXPORTER_METRIC, settings.exporter_job_selector)
        )
        board = board.with_variable(
            label_variable("cluster", "Cluster", source, settings.cluster_label)
        )
    if shows_app:
        jobs = series(APP_METRIC, _join(settings.app_job_selector, *_cluster()))
        board = board.with_variable(label_variable("job", "Job", jobs, "job"))
    return board


def label_variable(
    name: str, label: str, selector: str, label_name: str, multi: bool = True
) -> dashboard.QueryVariable:
    """A variable listing one label's values, "All" (regex `.*`) selected by default."""
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(f"label_values({selector}, {label_name})")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(multi)
        .include_all(True)
        .all_value(".*")
        .current(VariableOption(selected=True, text="All", value="$__all"))
    )


def query(
    expr: str,
    legend: str = "",
    *,
    ref_id: str = "A",
    instant: bool = False,
    table_format: bool = False,
) -> prometheus.Dataquery:
    """A Prometheus target on `$datasource`: a range query, or an instant one (tables, stats)."""
    target = prometheus.Dataquery().expr(expr).ref_id(ref_id).datasource(DATASOURCE)
    if legend:
        target = target.legend_format(legend)
    target = target.instant() if instant else target.range()
    if table_format:
        target = target.format(PromQueryFormat.TABLE)
    return target


def with_targets(panel, targets: Sequence[prometheus.Dataquery]):
    if len(targets) > len(REF_IDS):
        raise ValueError(f"at most {len(REF_IDS)} queries per panel")
    for ref_id, target in zip(REF_IDS, targets, strict=False):
        panel = panel.with_target(target.ref_id(ref_id))
    return panel


def framed(panel, title: str, description: str, unit: str, width: int, height: int):
    """`panel` (any panel builder) with what every painel panel has: a title, a description,
    the `$datasource` variable, a unit and its place on the grid."""
    return (
        panel.title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(width)
        .height(height)
    )


def thresholds(*steps: tuple[float | None, str]) -> dashboard.ThresholdsConfig:
    """Absolute thresholds: (None, base colour), then (value, colour) from that value up."""
    return (
        dashboard.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=value, color=color) for value, color in steps])
    )


def utilisation_thresholds() -> dashboard.ThresholdsConfig:
    """Green, orange from 80% (the warning alerts), red from 90% (the critical ones)."""
    return thresholds((None, "green"), (0.8, "orange"), (0.9, "red"))


def time_series(
    title: str,
    description: str,
    unit: str,
    targets: Sequence[prometheus.Dataquery],
    *,
    width: int = 12,
    height: int = 8,
    stacked: bool = False,
    bars: bool = False,
    threshold_lines: dashboard.ThresholdsConfig | None = None,
    min_value: float | None = 0,
    max_value: float | None = None,
) -> timeseries.Panel:
    panel = (
        framed(timeseries.Panel(), title, description, unit, width, height)
        .fill_opacity(60 if bars else 10)
        .legend(
            common_builders.VizLegendOptions()
            .show_legend(True)
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
        )
        .tooltip(
            common_builders.VizTooltipOptions()
            .mode(common.TooltipDisplayMode.MULTI)
            .sort(common.SortOrder.DESCENDING)
        )
    )
    if min_value is not None:
        panel = panel.min(min_value)
    if max_value is not None:
        panel = panel.max(max_value)
    if bars:
        panel = panel.draw_style(common.GraphDrawStyle.BARS)
    if stacked:
        panel = panel.stacking(
            common_builders.StackingConfig().mode(common.StackingMode.NORMAL).group("A")
        )
    if threshold_lines is not None:
        panel = panel.thresholds(threshold_lines).thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(
                common.GraphThresholdsStyleMode.DASHED
            )
        )
    return with_targets(panel, targets)


def stat_panel(
    title: str,
    description: str,
    unit: str,
    targets: Sequence[prometheus.Dataquery],
    *,
    width: int = 6,
    height: int = 5,
    colours: dashboard.ThresholdsConfig | None = None,
    mappings: Sequence | None = None,
    graph: bool = False,
) -> stat.Panel:
    panel = (
        framed(stat.Panel(), title, description, unit, width, height)
        .graph_mode(common.BigValueGraphMode.AREA if graph else common.BigValueGraphMode.NONE)
        .color_mode(common.BigValueColorMode.VALUE)
        .text_mode(common.BigValueTextMode.VALUE_AND_NAME)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .thresholds(colours or thresholds((None, "text")))
    )
    if mappings:
        panel = panel.mappings(list(mappings))
    return with_targets(panel, targets)


def table_panel(
    title: str,
    description: str,
    unit: str,
    targets: Sequence[prometheus.Dataquery],
    *,
    rename: dict[str, str],
    units: dict[str, str] | None = None,
    hide: Sequence[str] = (),
    keep: Sequence[str] = (),
    sort_by: str | None = None,
    rows_of: str | None = None,
    width: int = 12,
    height: int = 9,
) -> table.Panel:
    """Instant table queries joined on their labels (Grafana's "merge" transformation).

    `rename` maps the fields Prometheus returns ("Value #A", label names) to column titles,
    in the order the columns appear; `hide` lists fields not to show besides Time, __name__,
    job and instance (`keep` shows those); `units` sets a unit per (renamed) column.
    `rows_of` ("Value #A") keeps only the rows that query has a value in: the other queries
    may then return every row, instead of repeating the first one's selection.
    """
    hidden = {"Time", "__name__", "job", "instance", *hide} - set(keep)
    excluded = {name: True for name in sorted(hidden)}
    panel = framed(table.Panel(), title, description, unit, width, height).with_transformation(
        DataTransformerConfig(id_val="merge", options={})
    )
    if rows_of is not None:
        panel = panel.with_transformation(
            DataTransformerConfig(
                id_val="filterByValue",
                options={
                    "filters": [{"fieldName": rows_of, "config": {"id": "isNull", "options": {}}}],
                    "type": "exclude",
                    "match": "any",
                },
            )
        )
    panel = panel.with_transformation(
        DataTransformerConfig(
            id_val="organize",
            options={
                "excludeByName": excluded,
                "indexByName": {name: i for i, name in enumerate(rename)},
                "renameByName": dict(rename),
            },
        )
    )
    for column, column_unit in (units or {}).items():
        panel = panel.override_by_name(
            column, [DynamicConfigValue(id_val="unit", value=column_unit)]
        )
    if sort_by is not None:
        panel = panel.sort_by(
            [common_builders.TableSortByFieldState().display_name(sort_by).desc(True)]
        )
    return with_targets(panel, targets)


def one_zero_mappings(one: str, zero: str) -> list:
    """A 0/1 gauge as words: 1 → `one` (green), 0 → `zero` (red)."""
    return [
        ValueMap(
            options={
                "1": ValueMappingResult(text=one, color="green", index=0),
                "0": ValueMappingResult(text=zero, color="red", index=1),
            }
        )
    ]


def status_code_mappings() -> list:
    """HTTP status classes coloured: 2xx green, 3xx blue, 4xx orange, 5xx red, 0 no answer."""
    ranges = [(200, 299, "green"), (300, 399, "blue"), (400, 499, "orange"), (500, 599, "red")]
    mappings: list = [
        RangeMap(
            options=DashboardRangeMapOptions(
                from_val=low, to=high, result=ValueMappingResult(color=colour, index=i)
            )
        )
        for i, (low, high, colour) in enumerate(ranges)
    ]
    mappings.append(
        ValueMap(options={"0": ValueMappingResult(text="no answer", color="red", index=4)})
    )
    return mappings


def recorded(selector: str) -> str:
    """A 5-minute recording rule in a graph: averaged over each step, so that at long
    ranges (steps longer than the rule's evaluation interval) every sample counts, not
    just the one at each step."""
    return f"avg_over_time({selector}[$__rate_interval])"


def ranked(n: int, by: str, shown: str, score: str) -> str:
    """`shown` (one series per `by`) kept for the `n` highest `score`: `score` holds
    `[$__range] @ end()`, so the ranking is made once over the whole selected range, the
    legend holds `n` series and no line breaks where it would leave a per-step top n."""
    return f"{shown} and on ({by}) topk({n}, {score})"


def range_total(metric_selector: str, by: str) -> str:
    """A counter's increase over the whole selected range, per `by`, as of the range's end."""
    return f"sum by ({by}) (increase({metric_selector}[$__range] @ end()))"


def requests_link(title: str, keep: tuple[str, ...] = (), **fields: str) -> _Raw:
    """A data link to the Requests board, its variables set from the clicked row's `fields`
    (variable -> field name), the variables `keep` as they are chosen, the time range kept."""
    params = "&".join(
        [
            *(
                f"var-{variable}=${{__data.fields.{field}:percentencode}}"
                for variable, field in fields.items()
            ),
            *(f"${{{variable}:queryparam}}" for variable in keep),
        ]
    )
    url = f"/d/painel-requests/painel-requests?{params}&${{__url_time_range}}"
    return _Raw({"title": title, "url": url, "targetBlank": False})


CHOSEN_TENANTS = 'tenant=~"$tenant"'


def with_tenant_and_endpoint(board: dashboard.Dashboard) -> dashboard.Dashboard:
    """`board` with the app boards' `tenant` variable, then `endpoint` listing the endpoints
    of the chosen tenants."""
    return board.with_variable(
        label_variable("tenant", "Tenant", f"django_http_requests_total{{{app()}}}", "tenant")
    ).with_variable(
        label_variable(
            "endpoint",
            "Endpoint",
            f"django_http_requests_total{{{app(CHOSEN_TENANTS)}}}",
            "endpoint",
        )
    )
