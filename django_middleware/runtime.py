"""The per-process state the middleware works with: settings, metrics and the tenant cap.

Built once per process from the PAINEL setting. Metric names can be registered only once
per registry, so when tests change PAINEL the old metrics are unregistered first.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from django.core.signals import setting_changed

from . import conf
from .labels import TenantLabels
from .metrics import HttpMetrics


@dataclass(frozen=True)
class Runtime:
    settings: conf.Settings
    metrics: HttpMetrics
    tenants: TenantLabels


_current: Runtime | None = None
_lock = threading.Lock()


def current() -> Runtime:
    global _current
    runtime = _current
    if runtime is None:
        with _lock:
            if _current is None:
                settings = conf.get()
                _current = Runtime(
                    settings=settings,
                    metrics=HttpMetrics(settings.buckets),
                    tenants=TenantLabels(
                        settings.tenant_meta_key, settings.tenant_resolver, settings.max_tenants
                    ),
                )
            runtime = _current
    return runtime


def reset() -> None:
    """Forget the state (and unregister its metrics); the next request builds it afresh."""
    global _current
    with _lock:
        if _current is not None:
            _current.metrics.unregister()
            _current = None


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "PAINEL":
        reset()


setting_changed.connect(_on_setting_changed, dispatch_uid="painel-runtime-reset")
