"""First events under ASGI (the test project under a real uvicorn) are counted exactly.

The middleware runs as a coroutine there and /metrics is served from the event loop's
process, single-process: the hold lives in that process's memory. Two Prometheus servers
already scrape it when the first requests of new tenants, endpoints and an async view's
exception arrive.
"""

from __future__ import annotations

import json
import sys

import httpx
import pytest

from local_services.paths import REPO_ROOT
from local_services.ports import free_port
from local_services.process import ManagedProcess
from local_services.waiting import wait_for_port
from tests.django_middleware.helpers import ASGI_APP, server_env
from tests.support.increase import HOLD, assert_counted, two_prometheus, wait_scraping

pytestmark = pytest.mark.slow


@pytest.fixture
def stack(tmp_path):
    port = free_port()
    env = server_env(
        PYTHONPATH=str(REPO_ROOT),
        PAINEL_TEST_SETTINGS=json.dumps({"MAX_SCRAPE_INTERVAL": HOLD}),
    )
    argv = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), ASGI_APP]
    app = ManagedProcess(f"uvicorn-{port}", argv, tmp_path, env=env, cwd=REPO_ROOT)
    # no exporter here: its job scrapes a port nothing listens on
    servers = two_prometheus(tmp_path, [f"127.0.0.1:{port}"], [f"127.0.0.1:{free_port()}"])
    started = []
    try:
        started.append(app.start(ready=lambda: wait_for_port(port, alive=app.alive)))
        for server in servers:
            started.append(server.start())
        wait_scraping(servers, 1, job="django")
        yield f"http://127.0.0.1:{port}", servers
    finally:
        for service in reversed(started):
            service.stop()


def test_first_events_under_asgi_are_counted_exactly(stack):
    url, servers = stack
    with httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/async/sleep/1/", headers={"X-Tenant-ID": "asgi-one"}).text == "slept"
        for _ in range(25):
            client.get("/async/sleep/1/", headers={"X-Tenant-ID": "asgi-burst"})
        for _ in range(5):  # a sync view under ASGI: Django runs it in a thread
            client.get("/api/v1/orders/", headers={"X-Tenant-ID": "asgi-burst"})
        for _ in range(2):
            response = client.get("/async/boom/value/", headers={"X-Tenant-ID": "asgi-boom"})
            assert response.status_code == 500
    endpoint = 'endpoint="/async/sleep/<int:ms>/"'
    assert_counted(
        servers,
        {
            'django_http_requests_total{tenant="asgi-one"}': 1,
            f'django_http_requests_total{{tenant="asgi-burst",{endpoint}}}': 25,
            'django_http_requests_total{tenant="asgi-burst",endpoint="/api/v1/orders/"}': 5,
            'django_http_request_duration_seconds_count{tenant="asgi-burst"}': 30,
            'django_http_exceptions_total{tenant="asgi-boom",exception="ValueError"}': 2,
        },
    )
