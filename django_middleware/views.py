"""/metrics and /health."""

from __future__ import annotations

import logging
import os
from typing import Any

from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from prometheus_client import REGISTRY, CollectorRegistry

from . import conf, health
from .access import denied
from .multiprocess import MultiProcessCollector, choose_encoder, dropped
from .multiprocess.stats import declare_unreadable_files

logger = logging.getLogger("painel.metrics")


def _registry() -> CollectorRegistry:
    dropped.declare()
    dropped.flush()
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        return REGISTRY
    # prometheus_client's documented pattern: a fresh registry per scrape that merges the
    # files every worker writes, so any worker answers for all of them.
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path)
    declare_unreadable_files()  # into this worker's files, read back by the collector
    return registry


@never_cache
def metrics(request: Any) -> HttpResponse:
    refusal = denied(request, conf.get())
    if refusal is not None:
        return refusal
    encoder, content_type = choose_encoder(request.META.get("HTTP_ACCEPT"))
    try:
        body = encoder(_registry())
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
