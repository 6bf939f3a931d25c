"""What the middleware tests share: the test project's names and registry look-ups."""

from __future__ import annotations

from prometheus_client import REGISTRY

SETTINGS_MODULE = "tests.django_middleware.project.settings"
WSGI_APP = "tests.django_middleware.project.wsgi:application"
ASGI_APP = "tests.django_middleware.project.asgi:application"


def sample(name: str, **labels: str) -> float:
    """A sample's value in this process's registry, 0 when the series does not exist."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def label_sets(name: str) -> list[dict[str, str]]:
    """The label sets of every sample called `name` in this process's registry."""
    return [
        dict(s.labels) for family in REGISTRY.collect() for s in family.samples if s.name == name
    ]


def server_env(**extra: str) -> dict[str, str]:
    """Environment for a server process running the test project."""
    return {"DJANGO_SETTINGS_MODULE": SETTINGS_MODULE, **extra}
