"""Write painel's dashboards into grafana/dashboards/ (`python -m grafana.generator.generate`).

The committed JSON is this output; tests/grafana fails when they differ, so change the
Python in grafana/generator/boards/ and run this again.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from grafana.generator.boards import errors, health, redis_celery, requests, system

DASHBOARDS_DIR = Path(__file__).resolve().parents[1] / "dashboards"
BOARDS: dict[str, Callable[[], Dashboard]] = {
    "requests": requests.build,
    "errors": errors.build,
    "system": system.build,
    "redis-celery": redis_celery.build,
    "health": health.build,
}


def render(build: Callable[[], Dashboard]) -> dict[str, Any]:
    """The dashboard as Grafana's JSON model, with stable panel ids (1, 2, ... in order)."""
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


def rendered() -> dict[str, str]:
    """file name -> JSON text of every dashboard."""
    return {f"{name}.json": to_text(render(build)) for name, build in BOARDS.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DASHBOARDS_DIR)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in rendered().items():
        (args.out / name).write_text(text)
        print(args.out / name)


if __name__ == "__main__":
    main()
