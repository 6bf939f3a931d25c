"""PromQL pieces the rules share: selectors with the configured job matchers, numbers."""

from __future__ import annotations

import re

from prometheus_client.utils import floatToGoString

# Every grouping and matching clause of painel's rules lists `job` first.
_GROUPING = re.compile(r"\b(by|on) \(job\b")


def select(metric: str, selector: str, *matchers: str) -> str:
    """`metric{selector, matchers...}`: a raw series of the app's or the exporter's job."""
    return f"{metric}{{{', '.join([selector, *matchers])}}}"


def le(seconds: float) -> str:
    """The `le` matcher of a bucket bound as prometheus_client writes it (1 -> "1.0")."""
    return f'le="{floatToGoString(seconds)}"'


def number(value: float) -> str:
    """A float without binary noise: 1 - 0.999 -> 0.001, 0.02 * 720 -> 14.4."""
    return f"{round(value, 10):g}"


def human_seconds(seconds: float) -> str:
    """0.5 -> 500ms, 2.5 -> 2.5s, as Grafana and humanizeDuration write them."""
    return f"{number(seconds * 1000)}ms" if seconds < 1 else f"{number(seconds)}s"


def keep_cluster(expr: str, cluster_label: str | None) -> str:
    """`expr` with the cluster label kept by every `by (job, ...)` and `on (job, ...)`: an
    aggregation over several Prometheus servers' series (a central ruler) would otherwise
    add clusters together, and the dashboards' $cluster could not select the result."""
    if not cluster_label:
        return expr
    return _GROUPING.sub(rf"\1 ({cluster_label}, job", expr)
