"""painel-exporter's flags and their PAINEL_EXPORTER_* variables, for the deployment checks
(compose and Kubernetes) that must name only flags the exporter has."""

from __future__ import annotations

from exporter import collectors
from exporter.config import build_parser, env_name


def exporter_flags() -> set[str]:
    """Every long flag of painel-exporter, the collectors' own included."""
    parser = build_parser(collectors.modules())
    return {o for a in parser._actions for o in a.option_strings if o.startswith("--")}


def exporter_env_names() -> set[str]:
    """The PAINEL_EXPORTER_* variable of every flag: a misspelt one is ignored silently."""
    return {env_name(flag) for flag in exporter_flags()}
