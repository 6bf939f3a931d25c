"""Which metrics exist: the names a dashboard query or a rule may use, with their type.

Sources, so that no list is kept by hand where a better one exists:
- the README's Metrics tables (`### From the Django app`, `### From the exporter`), which
  painel's parts keep true for what they publish;
- the recording rules in prometheus/rules/ (gauges);
- django-prometheus' own metrics, read from the installed package;
- the series Prometheus itself writes (`up`, `ALERTS`).
A histogram `x` also provides `x_bucket`, `x_sum` and `x_count` (counters).
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import yaml

from local_services.paths import REPO_ROOT

README = REPO_ROOT / "README.md"
RULES_DIR = REPO_ROOT / "prometheus" / "rules"
METRIC_SECTIONS = ("From the Django app", "From the exporter")
RULES_SECTION = "Recording rules"

# Written by Prometheus, not scraped: scrape health and the state of alerting rules.
PROMETHEUS_SERIES = {
    "up": "gauge",
    "scrape_duration_seconds": "gauge",
    "scrape_samples_scraped": "gauge",
    "ALERTS": "gauge",
    "ALERTS_FOR_STATE": "gauge",
}

_ROW = re.compile(
    r"^\|\s*`(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)`\s*\|\s*(?P<type>counter|gauge|histogram|info|untyped)\s*\|"
    r"(?P<labels>[^|]*)\|(?P<meaning>.*)\|\s*$"
)
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def _table_rows(text: str, heading: str) -> Iterator[re.Match]:
    """The metric table rows under `### <heading>` (to the next heading)."""
    inside = False
    for line in text.splitlines():
        if line.startswith("#"):
            inside = line.lstrip("#").strip().startswith(heading)
            continue
        match = _ROW.match(line.strip()) if inside else None
        if match:
            yield match


def readme_table(text: str, heading: str) -> dict[str, str]:
    """name -> type from the metric table rows under `### <heading>`."""
    return {row.group("name"): row.group("type") for row in _table_rows(text, heading)}


def row_labels(row: re.Match) -> set[str]:
    """The labels a metric row names in backticks."""
    return set(re.findall(r"`(\w+)`", row.group("labels")))


def readme_rows(text: str | None = None) -> dict[str, tuple[str, set[str]]]:
    """name -> (type, labels) of every metric painel publishes, as its README documents them."""
    text = README.read_text() if text is None else text
    return {
        row.group("name"): (row.group("type"), row_labels(row))
        for heading in METRIC_SECTIONS
        for row in _table_rows(text, heading)
    }


def readme_metrics(text: str | None = None) -> dict[str, str]:
    """name -> type of every metric painel publishes, as its README documents them."""
    return {name: kind for name, (kind, _) in readme_rows(text).items()}


def known_labels(readme_text: str | None = None) -> dict[str, set[str]]:
    """name -> labels of the series painel and its recording rules write, as exposed (x_bucket
    has `le`); scraped series also have the `job` and `instance` Prometheus gives them."""
    text = README.read_text() if readme_text is None else readme_text
    # ALERTS and ALERTS_FOR_STATE carry each alert's own labels: left out, so anything goes.
    labels = {name: {"job", "instance"} for name in PROMETHEUS_SERIES if "ALERTS" not in name}
    for heading in (*METRIC_SECTIONS, RULES_SECTION):
        target = {"job", "instance"} if heading in METRIC_SECTIONS else set()
        for row in _table_rows(text, heading):
            names = target | row_labels(row)
            for exposed in expand_histograms({row.group("name"): row.group("type")}):
                labels[exposed] = names | ({"le"} if exposed.endswith("_bucket") else set())
    return labels


def rule_files(rules_dir: Path = RULES_DIR) -> list[Path]:
    return sorted([*rules_dir.glob("*.yml"), *rules_dir.glob("*.yaml")])


def iter_rules(paths: Iterable[Path] | None = None) -> Iterable[dict]:
    for path in rule_files() if paths is None else paths:
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", []):
            yield from group.get("rules", [])


def recording_rules() -> dict[str, str]:
    """record name -> expr of every recording rule."""
    return {rule["record"]: rule["expr"] for rule in iter_rules() if "record" in rule}


def django_prometheus_metrics() -> dict[str, str]:
    """name -> type of the metrics django-prometheus defines, read from the installed package.

    Its request metrics are created by `Metrics.register()`, which takes the metric class, so
    a subclass records them without registering anything; the database, cache, model and
    migration metrics are module-level objects in the default registry.
    """
    import prometheus_client
    from django_prometheus.middleware import Metrics

    found: dict[str, str] = {}

    class Recorder(Metrics):
        def register_metric(self, metric_cls, name, documentation, labelnames=(), **kwargs):
            metric = metric_cls(name, documentation, labelnames=labelnames, registry=None, **kwargs)
            for family in metric.describe():
                found[family.name] = family.type
            return metric

    Recorder()
    for module in ("db.metrics", "cache.metrics", "models", "migrations"):
        importlib.import_module(f"django_prometheus.{module}")
    for collector in list(prometheus_client.REGISTRY._collector_to_names):
        describe = getattr(collector, "describe", None)
        for family in describe() if describe else []:
            if family.name.startswith("django_"):
                found[family.name] = family.type
    return found


def known_metrics(readme_text: str | None = None) -> dict[str, str]:
    """Every metric name a query may select, with its type, histogram series included."""
    known: dict[str, str] = dict(PROMETHEUS_SERIES)
    known.update(django_prometheus_metrics())
    known.update(readme_metrics(readme_text))
    known.update({name: "gauge" for name in recording_rules()})
    return expand_histograms(known)


def expand_histograms(metrics: Mapping[str, str]) -> dict[str, str]:
    """The names as exposed: x_bucket/_sum/_count of a histogram, x_total, x_info."""
    expanded = dict(metrics)
    for name, kind in metrics.items():
        if kind == "histogram":
            for suffix in HISTOGRAM_SUFFIXES:
                expanded[name + suffix] = "counter"
        elif kind == "counter" and not name.endswith("_total"):
            # prometheus_client exposes a counter `x` as `x_total`.
            expanded[name + "_total"] = "counter"
        elif kind == "info" and not name.endswith("_info"):
            expanded[name + "_info"] = "gauge"
    return expanded


@functools.cache
def published_metrics() -> dict[str, str]:
    """known_metrics() of this checkout, read once (the README and rules do not change while
    the tests run)."""
    return known_metrics()


@functools.cache
def published_labels() -> dict[str, set[str]]:
    """known_labels() of this checkout, read once."""
    return known_labels()
