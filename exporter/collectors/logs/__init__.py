"""The logs collector as the registry loads it (see CollectorModule in exporter/collectors/base.py)."""

from exporter.collectors.logs.collector import NAME, add_flags, build, has_target

__all__ = ["NAME", "add_flags", "build", "has_target"]
