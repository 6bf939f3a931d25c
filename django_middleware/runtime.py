"""The per-process state the middleware works with: settings, metrics and the tenant cap.

Built once per process from the PAINEL setting. Metric names can be registered only once
per registry, so when tests change PAINEL the old metrics are unregistered first.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

from django.core.signals import setting_changed

from . import conf
from .labels import TENANT_MAX_LENGTH, TenantLabels
from .metrics import HttpMetrics
from .multiprocess.admitted import SharedCappedValues


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
                    metrics=HttpMetrics(settings.buckets, tenant_latency=settings.tenant_latency),
                    tenants=TenantLabels(
                        settings.tenant_meta_key,
                        settings.tenant_resolver,
                        settings.max_tenants,
                        _shared_tenant_cap(settings),
                    ),
                )
            runtime = _current
    return runtime


def _shared_tenant_cap(settings: conf.Settings) -> SharedCappedValues | None:
    """Under gunicorn (PROMETHEUS_MULTIPROC_DIR set) MAX_TENANTS holds for the instance: every
    worker, recycled ones too, admits the same tenants through the metrics directory."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return None  # a single process: TenantLabels keeps its own cap
    return SharedCappedValues(settings.max_tenants, TENANT_MAX_LENGTH, directory)


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
