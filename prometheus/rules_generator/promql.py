"""PromQL pieces the rules share: selectors with the configured job matchers, numbers."""

from __future__ import annotations

from prometheus_client.utils import floatToGoString


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
