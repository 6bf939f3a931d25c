"""Runbook links that open from Alertmanager, Grafana or a pager: absolute URLs.

Every alert's entry is the heading `## <AlertName>` of docs/runbook.md, whose anchor is
the name in lower case; the base is the configured URL of that document.
"""

from __future__ import annotations

from mixin.config import MixinConfig


def runbook_url(config: MixinConfig, alertname: str) -> str:
    return f"{config.runbook_base_url}#{alertname.lower()}"
