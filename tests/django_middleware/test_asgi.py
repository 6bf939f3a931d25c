"""The test project under a real uvicorn: an async view is timed and labelled, and the
middleware runs as a coroutine (Django adapts no layer of the chain)."""

from __future__ import annotations

import sys

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.gunicorn import ROOT
from tests.support.ports import free_port, wait_for_port
from tests.support.process import ManagedProcess

from .helpers import ASGI_APP, server_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def uvicorn(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("uvicorn")
    port = free_port()
    django_log = workdir / "django.log"
    argv = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), ASGI_APP]
    env = server_env(
        PYTHONPATH=str(ROOT), PAINEL_TEST_DEBUG="1", PAINEL_TEST_DJANGO_LOG=str(django_log)
    )
    process = ManagedProcess(f"uvicorn-{port}", argv, workdir, env=env, cwd=ROOT)
    process.start(ready=lambda: wait_for_port(port))
    yield f"http://127.0.0.1:{port}", django_log
    process.stop()


def test_an_async_view_is_timed_and_labelled(uvicorn):
    url, django_log = uvicorn
    with httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/async/sleep/200/", headers={"X-Tenant-ID": "acme"}).text == "slept"
        text = client.get("/metrics").text
    labels = {"method": "GET", "endpoint": "/async/sleep/<int:ms>/", "tenant": "acme"}
    values = {
        s.name: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.labels == labels or s.labels == {**labels, "status": "200"}
    }
    assert values["django_http_requests_total"] == 1
    assert values["django_http_request_duration_seconds_count"] == 1
    # The await inside the view is part of the time recorded.
    assert values["django_http_request_duration_seconds_sum"] >= 0.2
    assert "adapted for" not in django_log.read_text()
