"""The test project under a real gunicorn whose workers are recycled every 50 requests."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from local_services.gunicorn import GunicornServer
from local_services.waiting import wait_until

from ..helpers import WSGI_APP, server_env
from .helpers import parse, scrape_stock_text

pytestmark = pytest.mark.slow

REQUESTS = 600
TENANTS = ("acme", "globex", "initech")


def test_recycled_workers_count_exactly(tmp_path):
    server = GunicornServer(
        tmp_path, WSGI_APP, workers=2, env=server_env(), args=["--max-requests", "50"]
    ).start()
    try:
        started_with = set(server.worker_pids())
        jobs = [TENANTS[i % len(TENANTS)] for i in range(REQUESTS)]

        def send(chunk):
            with httpx.Client(base_url=server.url, timeout=30) as client:
                for tenant in chunk:
                    response = client.get("/api/v1/orders/7/", headers={"X-Tenant-ID": tenant})
                    assert response.status_code == 200

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(send, [jobs[i::4] for i in range(4)]))

        with server.client() as client:
            text = client.get("/metrics").text
        assert started_with.isdisjoint(server.worker_pids())  # every first worker recycled
        assert counts_by_tenant(parse(text)) == {t: REQUESTS // len(TENANTS) for t in TENANTS}
        # Merged at child_exit, not left for every scrape to read (a worker that served the
        # scrape as its 50th request may still be exiting: wait for it).
        wait_until(lambda: not dead_files(server), 30, 0.05, what="no dead worker's files left")
    finally:
        server.stop()
    # Every worker has now exited and been merged; prometheus_client reads what is left.
    stopped = parse(scrape_stock_text(server.multiproc_dir))
    assert counts_by_tenant(stopped) == {t: REQUESTS // len(TENANTS) for t in TENANTS}


def test_the_master_survives_merges_that_fail_and_counts_stay_exact(tmp_path):
    server = GunicornServer(
        tmp_path, WSGI_APP, workers=1, env=server_env(), args=["--max-requests", "5"]
    ).start()
    try:
        # Something in the way of the merged counter file's temporary name: every merge fails
        # (as on a full disk) and child_exit must not take gunicorn's master down with it.
        (server.multiproc_dir / "counter_merged.db.tmp").mkdir()
        started_with = set(server.worker_pids())
        with server.client() as client:
            for n in range(12):
                response = client.get("/api/v1/orders/7/", headers={"X-Tenant-ID": "acme"})
                assert response.status_code == 200, n
            text = client.get("/metrics").text
        assert started_with.isdisjoint(server.worker_pids())  # recycled at least twice
        assert server.process.alive()
        assert counts_by_tenant(parse(text)) == {"acme": 12}
        assert "failed; the next merge retries" in server.tail(400)
    finally:
        server.stop()


def dead_files(server: GunicornServer) -> list[str]:
    live = {str(pid) for pid in server.worker_pids()}
    return [
        p.name
        for p in server.multiproc_dir.glob("*.db")
        if p.name.rpartition("_")[2][: -len(".db")] not in live | {"merged"}
    ]


def counts_by_tenant(samples: dict) -> dict[str, float]:
    """Requests and histogram observations for the orders endpoint, which must agree."""
    requests: dict[str, float] = {}
    observed: dict[str, float] = {}
    for (name, labels), value in samples.items():
        labels = dict(labels)
        if labels.get("endpoint") != "/api/v1/orders/<int:pk>/":
            continue
        if name == "django_http_requests_total":
            requests[labels["tenant"]] = requests.get(labels["tenant"], 0) + value
        elif name == "django_http_request_duration_seconds_count":
            observed[labels["tenant"]] = observed.get(labels["tenant"], 0) + value
    assert requests == observed
    return requests
