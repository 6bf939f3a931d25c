"""Validates the PAINEL setting and the multiprocess directory when Django starts."""

from __future__ import annotations

import os

from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured

from . import conf
from .multiprocess import dropped


class PainelConfig(AppConfig):
    name = "django_middleware"
    label = "painel"
    verbose_name = "painel metrics"

    def ready(self) -> None:
        conf.get()
        multiproc_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if multiproc_dir and not os.path.isdir(multiproc_dir):
            raise ImproperlyConfigured(
                f"PROMETHEUS_MULTIPROC_DIR={multiproc_dir!r} is not a directory: create it "
                "(empty) before starting, or unset it for a single-process server"
            )
        dropped.declare()  # at 0 from the first scrape; in a worker, while its files have room
