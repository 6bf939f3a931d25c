"""The test project under a real uvicorn: an async view is timed and labelled, the middleware
runs as a coroutine (Django adapts no layer of the chain), an async view's exception is
counted, and a slow async request's record names the user Django's session signed in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from local_services.paths import REPO_ROOT
from local_services.ports import free_port
from local_services.process import ManagedProcess
from local_services.waiting import wait_for_port

from .helpers import ASGI_APP, server_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def uvicorn(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("uvicorn")
    port = free_port()
    server = SimpleNamespace(
        url=f"http://127.0.0.1:{port}",
        django_log=workdir / "django.log",
        slow_log=workdir / "slow.jsonl",
    )
    env = server_env(
        PYTHONPATH=str(REPO_ROOT),
        PAINEL_TEST_DEBUG="1",
        PAINEL_TEST_DJANGO_LOG=str(server.django_log),
        PAINEL_TEST_SLOW_LOG=str(server.slow_log),
        PAINEL_TEST_SETTINGS=json.dumps({"SLOW_REQUEST_THRESHOLD": 0.1}),
        PAINEL_TEST_DATABASE=str(workdir / "db.sqlite3"),
    )
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--verbosity", "0"],
        env={**os.environ, **env}, cwd=REPO_ROOT, check=True, timeout=120,
    )  # fmt: skip
    argv = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), ASGI_APP]
    process = ManagedProcess(f"uvicorn-{port}", argv, workdir, env=env, cwd=REPO_ROOT)
    process.start(ready=lambda: wait_for_port(port))
    yield server
    process.stop()


def test_an_async_view_is_timed_and_labelled(uvicorn):
    with httpx.Client(base_url=uvicorn.url, timeout=30) as client:
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
    assert "adapted for" not in uvicorn.django_log.read_text()


def test_an_exception_in_an_async_view_is_counted_and_still_answered(uvicorn):
    with httpx.Client(base_url=uvicorn.url, timeout=30) as client:
        response = client.get("/async/boom/value/", headers={"X-Tenant-ID": "acme"})
        text = client.get("/metrics").text
    assert response.status_code == 500 and "bad value, awaited" in response.text  # DEBUG page
    labels = {"method": "GET", "endpoint": "/async/boom/value/", "tenant": "acme"}
    values = {
        (s.name, s.labels.get("status") or s.labels.get("exception")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if {k: v for k, v in s.labels.items() if k in labels} == labels
    }
    assert values[("django_http_exceptions_total", "ValueError")] == 1
    assert values[("django_http_requests_total", "500")] == 1


def test_a_slow_async_request_names_the_signed_in_user(uvicorn):
    with httpx.Client(base_url=uvicorn.url, timeout=30) as client:
        user_id = client.get("/sign-in/ana/").text
        # The async view never reads request.user: the slow-request record is the first to,
        # which takes a database query (Django refuses those in the event loop).
        response = client.get("/async/sleep/150/", headers={"X-Request-ID": "async-signed-in"})
    assert (response.status_code, response.text) == (200, "slept")
    records = [json.loads(line) for line in uvicorn.slow_log.read_text().splitlines()]
    (record,) = [r for r in records if r["request_id"] == "async-signed-in"]
    assert (record["endpoint"], record["user"], record["status"]) == (
        "/async/sleep/<int:ms>/",
        user_id,
        200,
    )
