"""`gunicorn -c python:django_middleware.gunicorn`: what multiprocess mode needs at start-up."""

from __future__ import annotations

import os
import subprocess

import pytest
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.parser import text_string_to_metric_families

from tests.support.gunicorn import ROOT, GunicornServer

from .helpers import WSGI_APP, server_env

pytestmark = pytest.mark.slow


def test_gunicorn_refuses_to_start_without_a_multiprocess_directory(tmp_path):
    server = GunicornServer(tmp_path, WSGI_APP, workers=1, env=server_env(), multiprocess=False)
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    result = subprocess.run(
        server.argv(), cwd=ROOT, env={**env, **server.env}, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "set PROMETHEUS_MULTIPROC_DIR to an existing directory" in result.stderr


def test_files_left_by_an_earlier_run_are_not_counted_again(tmp_path):
    server = GunicornServer(
        tmp_path, WSGI_APP, workers=1, env=server_env(), empty_multiproc_dir=False
    )
    server.multiproc_dir.mkdir(parents=True)
    stale = MmapedDict(str(server.multiproc_dir / "counter_999999.db"))
    labels = {"method": "GET", "endpoint": "/", "status": "200", "tenant": "stale"}
    key = mmap_key(
        "django_http_requests",
        "django_http_requests_total",
        list(labels),
        list(labels.values()),
        "",
    )
    stale.write_value(key, 1000.0, 0.0)
    stale.close()
    server.start()
    try:
        with server.client() as client:
            text = client.get("/metrics").text
    finally:
        server.stop()
    tenants = {
        s.labels.get("tenant")
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "django_http_requests_total"
    }
    assert "stale" not in tenants
    assert not (server.multiproc_dir / "counter_999999.db").exists()
