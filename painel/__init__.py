"""What the Django middleware and the exporter share; nothing here imports Django."""

from __future__ import annotations

from importlib import metadata


def _version() -> str:
    try:
        return metadata.version("painel")
    except metadata.PackageNotFoundError:
        return "unknown"


#: the installed distribution's version, as painel_exporter_build_info and --version show it
VERSION = _version()
