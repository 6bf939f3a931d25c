"""The slow_requests collector as the registry loads it (see CollectorModule in exporter/collectors/base.py)."""

from exporter.collectors.slow_requests.collector import NAME, add_flags, build, has_target

__all__ = ["NAME", "add_flags", "build", "has_target"]
