"""/metrics and /health."""

from __future__ import annotations

import logging
import os
from typing import Any

from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from prometheus_client import REGISTRY, CollectorRegistry

from painel.new_series import HeldRegistry, NewSeriesHold

from . import conf, health
from .access import denied
from .multiprocess import MultiProcessCollector, choose_encoder, dropped
from .multiprocess.stats import declare_unreadable_files

logger = logging.getLogger("painel.metrics")
# One per process: it remembers when each series was first exposed (see painel.new_series).
_single_process_hold = NewSeriesHold(0.0)


def _registry(max_scrape_interval: float) -> CollectorRegistry | HeldRegistry:
    dropped.declare()
    dropped.flush()
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        _single_process_hold.hold = max_scrape_interval
        return HeldRegistry(REGISTRY, _single_process_hold)
    # prometheus_client's documented pattern: a fresh registry per scrape that merges the
    # files every worker writes, so any worker answers for all of them.
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path, max_scrape_interval)
    declare_unreadable_files()  # into this worker's files, read back by the collector
    return registry


@never_cache
def metrics(request: Any) -> HttpResponse:
    settings = conf.get()
    refusal = denied(request, settings)
    if refusal is not None:
        return refusal
    encoder, content_type = choose_encoder(request.META.get("HTTP_ACCEPT"))
    try:
        body = encoder(_registry(settings.max_scrape_interval))
    except (OSError, ValueError) as exc:
        # The directory was removed or made unreadable under the running server: answer at
        # once with what is left (nothing from the files) rather than an error.
        logger.error("painel: cannot read the metrics directory: %s", exc)
        body = encoder(CollectorRegistry())
    return HttpResponse(body, content_type=content_type)


@never_cache
def health_view(request: Any) -> JsonResponse:
    report = health.run(conf.get())
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)
