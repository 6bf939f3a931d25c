"""Every collector, one module each, registered by name in the order they appear.

The order is the order of --help, the landing page and the default --collectors list. Add
a collector by writing its module (see exporter/collector.py) and one line here.
"""

from __future__ import annotations

import importlib
from types import ModuleType

MODULE_NAMES = [
    "system",
    "redis",
    "celery",
    "health",
    "logs",
    "slow_requests",
]


def modules() -> list[ModuleType]:
    """The collector modules, imported in registry order."""
    return [importlib.import_module(f"{__name__}.{name}") for name in MODULE_NAMES]
