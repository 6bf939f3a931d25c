"""The test project in-process (Django's test client); server fixtures live in their modules.

Django is configured with settings.configure() rather than DJANGO_SETTINGS_MODULE so that
nothing leaks into the environment of the processes other tests start.
"""

from __future__ import annotations

import contextlib
import importlib

import pytest

from .helpers import SETTINGS_MODULE


@pytest.fixture(scope="session")
def django_project():
    import django
    from django.conf import settings

    project = importlib.import_module(SETTINGS_MODULE)
    if not settings.configured:
        settings.configure(
            **{name: getattr(project, name) for name in dir(project) if name.isupper()}
        )
        django.setup()
    elif settings.ROOT_URLCONF != project.ROOT_URLCONF:
        raise RuntimeError(
            f"Django is already configured in this pytest process for {settings.ROOT_URLCONF}; "
            "run other Django projects in subprocesses"
        )
    return settings


@pytest.fixture
def painel(django_project):
    """`with painel(MAX_TENANTS=3): ...` runs the block with those PAINEL settings (and fresh
    metrics, since the middleware's state is rebuilt whenever PAINEL changes)."""
    from django.test import override_settings

    @contextlib.contextmanager
    def override(**values):
        with override_settings(PAINEL={"MAX_SCRAPE_INTERVAL": 0, **values}):
            yield

    return override


@pytest.fixture
def client(django_project):
    from django.test import Client

    return Client()
