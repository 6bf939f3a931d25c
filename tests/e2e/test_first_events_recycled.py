"""First events served by gunicorn workers that are then recycled are still counted exactly.

With `--max-requests 8` workers are replaced after a few requests (Prometheus' scrapes are
requests too), so the workers that served the new tenants' first requests are gone soon
after: their counts must come back from the merged files, without a jump, and the time
their series were first exposed from the file all workers share, on both Prometheus
servers. Gunicorn answers nothing while a replacement worker boots (seconds on a busy
machine), so scrapes fail now and then here: the hold is longer than in the other tests,
as it must cover the longest gap between two successful scrapes.
"""

from __future__ import annotations

import json

import pytest

from local_services.gunicorn import GunicornServer
from local_services.ports import free_port
from local_services.waiting import wait_until
from tests.django_middleware.helpers import WSGI_APP, server_env
from tests.support.increase import assert_counted, two_prometheus, wait_scraping

pytestmark = pytest.mark.slow

MAX_REQUESTS = 8
HOLD = 10


@pytest.fixture
def stack(tmp_path):
    app = GunicornServer(
        tmp_path / "app",
        WSGI_APP,
        workers=3,
        args=["--max-requests", str(MAX_REQUESTS), "--max-requests-jitter", "0"],
        env=server_env(PAINEL_TEST_SETTINGS=json.dumps({"MAX_SCRAPE_INTERVAL": HOLD})),
    )
    # no exporter here: its job scrapes a port nothing listens on
    servers = two_prometheus(tmp_path, [f"127.0.0.1:{app.port}"], [f"127.0.0.1:{free_port()}"])
    started = []
    try:
        started.append(app.start())
        for server in servers:
            started.append(server.start())
        wait_scraping(servers, 1, job="django")
        yield app, servers
    finally:
        for service in reversed(started):
            service.stop()


def test_first_events_of_recycled_workers_are_counted_exactly(stack):
    app, servers = stack
    serving = set(app.worker_pids())
    expected = {}
    with app.client() as client:
        for n in range(1, 7):  # new tenants, new endpoints, a new exception type
            for _ in range(n):
                client.get(f"/items/s{n}/", headers={"X-Tenant-ID": f"recycled-{n}"})
            expected[f'django_http_requests_total{{tenant="recycled-{n}"}}'] = n
        for _ in range(3):
            assert client.get("/boom/value/", headers={"X-Tenant-ID": "gone"}).status_code == 500
        expected['django_http_exceptions_total{tenant="gone",exception="ValueError"}'] = 3
        expected['django_http_request_duration_seconds_count{tenant="recycled-6"}'] = 6
        expected['django_http_request_duration_seconds_bucket{tenant="gone",le="+Inf"}'] = 3

        def replaced() -> bool:
            """Every worker that served before is gone; else one more request (another
            tenant's) brings the next recycling closer."""
            if not serving & set(app.worker_pids()):
                return True
            client.get("/", headers={"X-Tenant-ID": "filler"})
            return False

        # 24 requests, at most 8 per worker: some of the workers that served them died
        # already; the rest, and every worker of before, die now
        wait_until(replaced, 60, 0.2, what=f"workers {serving} replaced")
    assert_counted(servers, expected, hold=HOLD)
