"""Every collector, one module or subpackage each, registered by name in the order they appear.

The order is the order of --help, the landing page and the default --collectors list. Add
a collector by writing its module (see CollectorModule in exporter/collectors/base.py) and
one line here.
"""

from __future__ import annotations

import importlib
from typing import cast

from exporter.collectors.base import CollectorModule, missing_pieces

MODULE_NAMES = [
    "system",
    "redis",
    "celery",
    "health",
    "logs",
    "slow_requests",
]


def modules() -> list[CollectorModule]:
    """The collector modules, imported and checked in registry order."""
    return [load(f"{__name__}.{name}") for name in MODULE_NAMES]


def load(dotted_name: str) -> CollectorModule:
    """Import one collector module; a TypeError names what it lacks when it is not one."""
    module = importlib.import_module(dotted_name)
    missing = missing_pieces(module)
    if missing:
        raise TypeError(
            f"{dotted_name} is not a collector module: it lacks {', '.join(missing)} "
            "(see CollectorModule in exporter/collectors/base.py)"
        )
    return cast(CollectorModule, module)
