"""Validates the PAINEL setting and the multiprocess directory when Django starts."""

from __future__ import annotations

import logging
import os
import sys

from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured

from . import conf
from .multiprocess import dropped

logger = logging.getLogger("painel.metrics")

EMPTY_MULTIPROC_DIR = (
    "PROMETHEUS_MULTIPROC_DIR is set but empty, which prometheus_client takes as the current "
    "directory: set it to an existing directory (a multiprocess server such as gunicorn) or "
    "unset it (a single process)"
)


def _checked_by_gunicorn_master() -> bool:
    hooks = sys.modules.get("django_middleware.gunicorn")
    return bool(hooks and hooks.directory_checked)


class PainelConfig(AppConfig):
    name = "django_middleware"
    label = "painel"
    verbose_name = "painel metrics"

    def ready(self) -> None:
        conf.get()
        multiproc_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if multiproc_dir == "":
            # prometheus_client takes a set variable as multiprocess mode whatever its value,
            # and an empty one as the current directory: files nobody cleans nor merges.
            raise ImproperlyConfigured(EMPTY_MULTIPROC_DIR)
        if multiproc_dir and not os.path.isdir(multiproc_dir):
            if _checked_by_gunicorn_master():
                # It was there when gunicorn started: removed since. A worker that refused
                # to boot would make gunicorn's master shut the whole server down; it serves
                # without metrics instead (counted as dropped, retried once a second).
                logger.error("painel: PROMETHEUS_MULTIPROC_DIR=%r was removed", multiproc_dir)
                return
            raise ImproperlyConfigured(
                f"PROMETHEUS_MULTIPROC_DIR={multiproc_dir!r} is not a directory: create it "
                "(empty) before starting, or unset it for a single-process server"
            )
        dropped.declare()  # at 0 from the first scrape; in a worker, while its files have room
