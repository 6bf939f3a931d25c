"""The one configuration painel's Prometheus rules and Grafana dashboards are generated from.

`MixinConfig()` holds the defaults the committed rules and dashboards are rendered with;
`load_config(path)` reads a YAML file of the same keys (any subset) and refuses a key it
does not know, so a typo fails with a message instead of leaving a default in place.

    # painel-mixin.yml
    app_job_selector: 'job="shop"'
    availability_objective: 0.995
    runbook_base_url: https://wiki.example.com/painel/runbook
    extra_labels: {team: shop}
    cluster_label: cluster
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from django_middleware.conf import DEFAULTS

# A placeholder: the runbook of this repository's docs. Set the URL where your team reads
# docs/runbook.md (a wiki page, your fork) so that the links open from a pager.
DEFAULT_RUNBOOK_BASE_URL = "https://github.com/painel/painel/blob/main/docs/runbook.md"

_DURATION = re.compile(r"[1-9][0-9]*[mhdw]")
_INTERVAL = re.compile(r"[1-9][0-9]*[smh]")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# Labels the rules set themselves: an extra label may not override them.
_RESERVED_LABELS = {"severity", "alertname", "job", "instance"}


class ConfigError(ValueError):
    """A value or key the rules cannot be rendered with; the message says what to fix."""


@dataclass(frozen=True)
class MixinConfig:
    # label matchers (PromQL, without braces) selecting the app's and the exporter's series
    app_job_selector: str = 'job="django"'
    exporter_job_selector: str = 'job="painel-exporter"'
    # seconds; a bucket bound of the app's histogram, like PAINEL SLOW_REQUEST_THRESHOLD
    slow_request_threshold: float = DEFAULTS["SLOW_REQUEST_THRESHOLD"]
    # share of responses that are not 5xx, and share answered within the threshold
    availability_objective: float = 0.999
    latency_objective: float = 0.99
    slo_window: str = "30d"
    # links are <runbook_base_url>#<alertname in lower case>
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL
    # labels added to every alert (routing: team, service)
    extra_labels: Mapping[str, str] = field(default_factory=dict)
    # share of 5xx over 5 minutes that pages (DjangoHighErrorRate): 10 times the budget of
    # 99.9%, so 2% of errors pages within 10 minutes, where the budget alerts' hour takes 43
    error_ratio_threshold: float = 0.01
    # traffic floors: below them a few slow or failed requests or tasks are no alert
    error_rate_min_requests_per_second: float = 1.0
    latency_min_requests_per_second: float = 0.1
    task_failure_min_runs: int = 10  # runs of the task in the 10-minute window
    # the label telling several Prometheus servers' series apart behind one data source
    # (an external label such as `cluster`): rules keep it, dashboards get a variable on
    # it; None for one Prometheus (no variable, rules as without it)
    cluster_label: str | None = None
    # how often the per-interval counts the range tables add up are recorded (the group
    # painel.django.increase.rules); at least the scrape interval. Their names keep
    # `increase1m`, which the dashboards read: a shorter interval is for tests that cannot
    # wait a minute, a longer one costs accuracy at the range's edges.
    range_rules_interval: str = "1m"
    # how far behind now those counts are read (the raw series `offset` this much): longer
    # than a sample takes to become queryable where the rules are evaluated. A sample
    # stamped before an evaluation but stored after it would be missed by it and by the
    # next: in Prometheus a scrape is stamped when it starts and stored when it ends (up to
    # its scrape_timeout, 10s by default, later); remote write (VictoriaMetrics, Mimir) adds
    # its batching. One interval by default, so that each evaluation reads whole intervals
    # of samples; the tables end that far behind now. None: read at now.
    range_rules_delay: str | None = "1m"

    def __post_init__(self) -> None:
        for name in ("app_job_selector", "exporter_job_selector"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip() or "{" in value or "}" in value:
                raise ConfigError(f'{name}: give label matchers without braces, like job="django"')
        for name in ("availability_objective", "latency_objective", "error_ratio_threshold"):
            value = getattr(self, name)
            if not _number(value) or not 0 < value < 1:
                raise ConfigError(f"{name} {value!r}: give a share between 0 and 1, like 0.999")
        positive = (
            "slow_request_threshold",
            "error_rate_min_requests_per_second",
            "latency_min_requests_per_second",
            "task_failure_min_runs",
        )
        for name in positive:
            value = getattr(self, name)
            if not _number(value) or value < 0 or (name == "slow_request_threshold" and not value):
                raise ConfigError(f"{name} {value!r}: give a positive number")
        if not isinstance(self.slo_window, str) or not _DURATION.fullmatch(self.slo_window):
            raise ConfigError(f"slo_window {self.slo_window!r}: give a duration like 30d or 4w")
        interval = self.range_rules_interval
        if not isinstance(interval, str) or not _INTERVAL.fullmatch(interval):
            raise ConfigError(f"range_rules_interval {interval!r}: give a duration like 1m or 30s")
        delay = self.range_rules_delay
        if delay is not None and (not isinstance(delay, str) or not _INTERVAL.fullmatch(delay)):
            raise ConfigError(
                f"range_rules_delay {delay!r}: give a duration like 30s, or null for none"
            )
        url = self.runbook_base_url
        if not isinstance(url, str) or not re.match(r"https?://[^\s#]+$", url):
            raise ConfigError(
                f"runbook_base_url {url!r}: give an absolute http(s) URL without #, like "
                "https://wiki.example.com/painel/runbook"
            )
        if not isinstance(self.extra_labels, Mapping):
            raise ConfigError("extra_labels: give a mapping of label names to values")
        for key, value in self.extra_labels.items():
            if not isinstance(key, str) or not _LABEL_NAME.fullmatch(key) or key.startswith("__"):
                raise ConfigError(f"extra_labels: {key!r} is no Prometheus label name")
            if key in _RESERVED_LABELS:
                raise ConfigError(f"extra_labels: {key!r} is set by the rules themselves")
            if not isinstance(value, str):
                raise ConfigError(f"extra_labels: the value of {key!r} must be a string")
        object.__setattr__(self, "extra_labels", MappingProxyType(dict(self.extra_labels)))
        label = self.cluster_label
        if label is not None:
            if (
                not isinstance(label, str)
                or not _LABEL_NAME.fullmatch(label)
                or label.startswith("__")
            ):
                raise ConfigError(
                    f"cluster_label {label!r}: give a Prometheus label name like cluster, "
                    "or leave it out for one Prometheus"
                )
            if label in _RESERVED_LABELS | {"le"}:
                raise ConfigError(f"cluster_label {label!r}: the series already use that label")

    @property
    def slo_window_hours(self) -> float:
        amount, unit = int(self.slo_window[:-1]), self.slo_window[-1]
        return amount * {"m": 1 / 60, "h": 1, "d": 24, "w": 168}[unit]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def config_from_mapping(
    values: Mapping[str, Any], source: str = "the configuration"
) -> MixinConfig:
    known = [f.name for f in fields(MixinConfig)]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(
            f"{source}: unknown key {', '.join(map(repr, unknown))}; known keys: {', '.join(known)}"
        )
    return MixinConfig(**values)


def load_config(path: str | Path) -> MixinConfig:
    """The configuration in a YAML file; keys left out keep their defaults."""
    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if not isinstance(values, Mapping):
        raise ConfigError(f"{path}: give a mapping of keys to values, not {type(values).__name__}")
    try:
        return config_from_mapping(values, str(path))
    except ConfigError as exc:
        message = str(exc)
        raise ConfigError(
            message if message.startswith(str(path)) else f"{path}: {message}"
        ) from None
