"""System: whether the host keeps up — CPU, memory, disk with their trend, and firing alerts."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from grafana.generator.panels import (
    config,
    exporter,
    label_variable,
    new_dashboard,
    query,
    recorded,
    scoped,
    stat_panel,
    table_panel,
    time_series,
    utilisation_thresholds,
)

UID = "painel-system"
INSTANCE = 'instance=~"$instance"'
FIRING = 'alertstate="firing"'


# The node recording rules read the exporter's jobs only: scoped by $instance (and $cluster).
def cpu() -> str:
    return f"instance:painel_node_cpu_utilisation:rate5m{{{scoped(INSTANCE)}}}"


def memory() -> str:
    return f"instance:painel_node_memory_utilisation:ratio{{{scoped(INSTANCE)}}}"


def disk() -> str:
    return f"mountpoint:painel_node_filesystem_utilisation:ratio{{{scoped(INSTANCE)}}}"


def utilisation_now(title: str, expr: str, what: str) -> dashboard.Panel:
    return stat_panel(
        title,
        f"{what} now; orange from 80% (warning alert), red from 90% (critical alert).",
        "percentunit",
        [query(expr, "{{instance}}", instant=True)],
        colours=utilisation_thresholds(),
        width=6,
    )


def utilisation_trend(title: str, description: str, series: list) -> dashboard.Panel:
    return time_series(
        title,
        description + " The dashed lines are the 80% and 90% alert thresholds.",
        "percentunit",
        series,
        threshold_lines=utilisation_thresholds(),
        max_value=1,
        width=8,
    )


def cpu_now() -> dashboard.Panel:
    return utilisation_now("CPU busy", cpu(), "Share of CPU time not idle")


def memory_now() -> dashboard.Panel:
    return utilisation_now("Memory used", memory(), "Share of memory not available")


def fullest_filesystem_now() -> dashboard.Panel:
    return utilisation_now("Fullest filesystem", f"max by (instance) ({disk()})", "Fullest disk")


def uptime() -> dashboard.Panel:
    return stat_panel(
        "Uptime",
        "Time since the host booted.",
        "s",
        [
            query(
                f"time() - node_boot_time_seconds{{{exporter(INSTANCE)}}}",
                "{{instance}}",
                instant=True,
            )
        ],
        width=6,
    )


def cpu_trend() -> dashboard.Panel:
    return utilisation_trend(
        "CPU",
        "Share of CPU time busy (5-minute rates) and its 1-hour average as the trend.",
        [
            query(recorded(cpu()), "{{instance}}"),
            query(f"avg_over_time({cpu()}[1h])", "{{instance}} 1 h average"),
        ],
    )


def memory_trend() -> dashboard.Panel:
    return utilisation_trend(
        "Memory",
        "Share of memory used and its 1-hour average as the trend.",
        [
            query(memory(), "{{instance}}"),
            query(f"avg_over_time({memory()}[1h])", "{{instance}} 1 h average"),
        ],
    )


def disk_trend() -> dashboard.Panel:
    return utilisation_trend(
        "Disk",
        "Share of each filesystem used, and where the last 6 hours' linear trend puts it in "
        "24 hours.",
        [
            query(disk(), "{{mountpoint}}"),
            query(
                f"clamp(predict_linear({disk()}[6h], 86400), 0, 1)",
                "{{mountpoint}} in 24 h (trend)",
            ),
        ],
    )


def load_average() -> dashboard.Panel:
    return time_series(
        "Load average",
        "Processes running or waiting for CPU, averaged over 1, 5 and 15 minutes.",
        "short",
        [
            query(f"node_load1{{{exporter(INSTANCE)}}}", "1 min {{instance}}"),
            query(f"node_load5{{{exporter(INSTANCE)}}}", "5 min {{instance}}"),
            query(f"node_load15{{{exporter(INSTANCE)}}}", "15 min {{instance}}"),
        ],
        width=8,
    )


def disk_io() -> dashboard.Panel:
    return time_series(
        "Disk I/O",
        "Bytes read and written per second, per device.",
        "Bps",
        [
            query(
                f"rate(node_disk_read_bytes_total{{{exporter(INSTANCE)}}}[$__rate_interval])",
                "read {{device}}",
            ),
            query(
                f"rate(node_disk_written_bytes_total{{{exporter(INSTANCE)}}}[$__rate_interval])",
                "written {{device}}",
            ),
        ],
        width=8,
    )


def network() -> dashboard.Panel:
    return time_series(
        "Network",
        "Bytes received and sent per second, per interface.",
        "Bps",
        [
            query(
                f"rate(node_network_receive_bytes_total{{{exporter(INSTANCE)}}}[$__rate_interval])",
                "received {{device}}",
            ),
            query(
                f"rate(node_network_transmit_bytes_total{{{exporter(INSTANCE)}}}[$__rate_interval])",
                "sent {{device}}",
            ),
        ],
        width=8,
    )


def firing_alerts() -> dashboard.Panel:
    settings = config()
    # The configured extra labels (team, service: what routes the alert) as columns of
    # their own, after the alert's name and severity; the cluster label before them.
    routing = {name: name.replace("_", " ").capitalize() for name in settings.extra_labels}
    if settings.cluster_label:
        routing = {settings.cluster_label: "Cluster", **routing}
    return table_panel(
        "Firing alerts",
        "Every alert Prometheus fires now, from painel's rules and any other.",
        "none",
        [query(f"ALERTS{{{scoped(FIRING)}}}", instant=True, table_format=True)],
        rename={
            "alertname": "Alert",
            "severity": "Severity",
            **routing,
            "instance": "Instance",
            "job": "Job",
        },
        hide=("alertstate", "Value"),
        keep=("job", "instance"),
        width=24,
        height=8,
    )


def build() -> dashboard.Dashboard:
    return (
        new_dashboard(
            UID,
            "painel / System",
            "CPU, memory and disk of the hosts the exporter runs on, their trend against the "
            "80% alert threshold, and the alerts firing now.",
            "now-6h",
        )
        .with_variable(
            label_variable(
                "instance", "Host", f"node_boot_time_seconds{{{exporter()}}}", "instance"
            )
        )
        .with_panel(cpu_now())
        .with_panel(memory_now())
        .with_panel(fullest_filesystem_now())
        .with_panel(uptime())
        .with_panel(cpu_trend())
        .with_panel(memory_trend())
        .with_panel(disk_trend())
        .with_panel(load_average())
        .with_panel(disk_io())
        .with_panel(network())
        .with_panel(firing_alerts())
    )
