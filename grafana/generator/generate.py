"""Write painel's dashboards into grafana/dashboards/ (`python -m grafana.generator.generate`).

`--config painel-mixin.yml` renders them with the same MixinConfig as the rules
(`python -m prometheus.rules_generator --config ...`): job selectors, slow threshold,
runbook URL, cluster label. The committed JSON is this output with the defaults;
tests/grafana fails when they differ, so change the Python in grafana/generator/boards/
and run this again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from grafana.generator.boards import errors, health, redis_celery, requests, system
from grafana.generator.panels import rendering_with
from mixin.cli import render_main
from mixin.config import MixinConfig

DASHBOARDS_DIR = Path(__file__).resolve().parents[1] / "dashboards"
BOARDS: dict[str, Callable[[], Dashboard]] = {
    "requests": requests.build,
    "errors": errors.build,
    "system": system.build,
    "redis-celery": redis_celery.build,
    "health": health.build,
}


def render(build: Callable[[], Dashboard], config: MixinConfig | None = None) -> dict[str, Any]:
    """The dashboard as Grafana's JSON model, with stable panel ids (1, 2, ... in order),
    built with `config` (the defaults when None)."""
    with rendering_with(config or MixinConfig()):
        model = json.loads(json.dumps(build().build(), cls=JSONEncoder))
    next_id = 1
    for panel in model.get("panels", []):
        panel["id"] = next_id
        next_id += 1
        for inner in panel.get("panels", []):
            inner["id"] = next_id
            next_id += 1
    return model


def to_text(model: dict[str, Any]) -> str:
    return json.dumps(model, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def rendered(config: MixinConfig | None = None) -> dict[str, str]:
    """file name -> JSON text of every dashboard."""
    return {f"{name}.json": to_text(render(build, config)) for name, build in BOARDS.items()}


def write_dashboards(
    config: MixinConfig | None = None, out_dir: Path = DASHBOARDS_DIR
) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in rendered(config).items():
        (out_dir / name).write_text(text)
        written.append(out_dir / name)
    return written


def main(argv: list[str] | None = None) -> None:
    render_main(
        "python -m grafana.generator.generate",
        __doc__.split("\n")[0],
        DASHBOARDS_DIR,
        write_dashboards,
        argv,
    )


if __name__ == "__main__":
    main()
