"""Recording and alerting rule dicts as Prometheus reads them, in the mixin style."""

from __future__ import annotations

from mixin.config import MixinConfig
from prometheus.rules_generator.runbook import runbook_url


def record(name: str, expr: str) -> dict:
    return {"record": name, "expr": expr}


def alert(
    config: MixinConfig,
    name: str,
    severity: str,
    expr: str,
    summary: str,
    description: str,
    for_: str | None = None,
) -> dict:
    """An alert with its severity, the configured extra labels and its runbook link."""
    rule: dict = {"alert": name, "expr": expr}
    if for_:
        rule["for"] = for_
    rule["labels"] = {"severity": severity, **config.extra_labels}
    rule["annotations"] = {
        "summary": summary,
        "description": description,
        "runbook_url": runbook_url(config, name),
    }
    return rule


def group(name: str, rules: list[dict]) -> dict:
    return {"name": name, "rules": rules}
