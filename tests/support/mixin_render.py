"""Rules and dashboards rendered with a user's mixin configuration, through the two
commands a user runs (`python -m prometheus.rules_generator --config ... --out ...` and
`python -m grafana.generator.generate --config ... --out ...`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from grafana.generator.generate import main as generate_dashboards
from mixin.config import MixinConfig, load_config
from prometheus.rules_generator import render_rule_files
from prometheus.rules_generator.__main__ import main as generate_rules

# Another shop's settings: two apps, its own exporter job, a faster threshold than the
# middleware's default, its runbook and routing label, several Prometheus servers.
USER_CONFIG = {
    "app_job_selector": 'job=~"shop|blog"',
    "exporter_job_selector": 'job="shop-exporter"',
    "slow_request_threshold": 0.25,
    "runbook_base_url": "https://wiki.example.com/ops/painel-runbook",
    "extra_labels": {"team": "shop"},
    "cluster_label": "cluster",
}


# The stacks of the end-to-end tests scrape every second: their per-interval counts
# (painel.django.increase.rules, 1m by default) every 10 s, so that the range tables' rules
# have evaluated past the load within seconds instead of a minute's wait. Not shorter: a
# series must be readable within one interval of its first sample (-2s lost the whole
# load in VictoriaMetrics, where remote-written samples become searchable seconds later).
# Read 2 s behind now rather than the default minute: a local scrape is stored within
# milliseconds of its timestamp. Waits for the rules add SHORT_RANGE_RULES_DELAY_SECONDS.
SHORT_RANGE_RULES_DELAY_SECONDS = 2
SHORT_RANGE_RULES = {
    "range_rules_interval": "10s",
    "range_rules_delay": f"{SHORT_RANGE_RULES_DELAY_SECONDS}s",
}


@dataclass(frozen=True)
class Rendered:
    config: MixinConfig
    rules_dir: Path
    dashboards_dir: Path

    @property
    def rule_files(self) -> list[Path]:
        return sorted(self.rules_dir.glob("*.yml"))

    def rules(self) -> list[dict]:
        return [
            rule
            for path in self.rule_files
            for group in yaml.safe_load(path.read_text())["groups"]
            for rule in group["rules"]
        ]

    def recorded(self) -> set[str]:
        return {rule["record"] for rule in self.rules() if "record" in rule}

    def dashboards(self) -> dict[str, dict[str, Any]]:
        return {
            path.name: json.loads(path.read_text())
            for path in sorted(self.dashboards_dir.glob("*.json"))
        }


def render_with(values: Mapping[str, Any], out: Path) -> Rendered:
    """Write `values` as a painel-mixin.yml under `out`, then render rules and dashboards."""
    out.mkdir(parents=True, exist_ok=True)
    config_file = out / "painel-mixin.yml"
    config_file.write_text(yaml.safe_dump(dict(values)))
    rules_dir, dashboards_dir = out / "rules", out / "dashboards"
    generate_rules(["--config", str(config_file), "--out", str(rules_dir)])
    generate_dashboards(["--config", str(config_file), "--out", str(dashboards_dir)])
    return Rendered(load_config(config_file), rules_dir, dashboards_dir)


def short_interval_rule_files(out: Path, **more: Any) -> list[Path]:
    """The repository's rules as committed but for SHORT_RANGE_RULES (and `more` keys),
    written under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    files = render_rule_files(MixinConfig(**{**SHORT_RANGE_RULES, **more}))
    for name, text in files.items():
        (out / name).write_text(text)
    return sorted(out / name for name in files)
