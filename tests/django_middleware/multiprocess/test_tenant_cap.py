"""Issue 11 under a real gunicorn: MAX_TENANTS holds for the instance (3 workers recycled every
40 requests, 150 tenants, a cap of 20), and TENANT_LATENCY "per_tenant" keeps per-tenant
request counts, per-endpoint latency and per-tenant latency exact."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from local_services.gunicorn import GunicornServer

from ..helpers import WSGI_APP, server_env
from .helpers import parse

pytestmark = pytest.mark.slow

TENANTS = [f"tenant-{i:03d}" for i in range(150)]
ROUNDS = 4  # requests per tenant
ORDERS = "/api/v1/orders/<int:pk>/"
PATHS = {"/api/v1/orders/7/": ORDERS, "/api/v1/orders/": "/api/v1/orders/"}


def serve(tmp_path, **painel) -> GunicornServer:
    return GunicornServer(
        tmp_path,
        WSGI_APP,
        workers=3,
        env=server_env(PAINEL_TEST_SETTINGS=json.dumps(painel)),
        args=["--max-requests", "40"],
    ).start()


def send_every_tenant(server: GunicornServer) -> dict[tuple[str, str], int]:
    """ROUNDS requests per tenant spread over the two paths; what was sent, by (endpoint,
    tenant)."""
    jobs = [([*PATHS][n % 2], tenant) for n in range(ROUNDS) for tenant in TENANTS]

    def send(chunk):
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for path, tenant in chunk:
                response = client.get(path, headers={"X-Tenant-ID": tenant})
                assert response.status_code == 200

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(send, [jobs[i::4] for i in range(4)]))
    sent: dict[tuple[str, str], int] = {}
    for path, tenant in jobs:
        sent[PATHS[path], tenant] = sent.get((PATHS[path], tenant), 0) + 1
    return sent


def totals(samples: dict, name: str, *by: str) -> dict[tuple[str, ...], float]:
    out: dict[tuple[str, ...], float] = {}
    for (sample, labels), value in samples.items():
        labels = dict(labels)
        # Not the start-up checks' requests to "/" (no tenant).
        if (
            sample == name
            and labels.get("endpoint", ORDERS) in PATHS.values()
            and labels.get("tenant") != "<none>"
        ):
            key = tuple(labels.get(label, "") for label in by)
            out[key] = out.get(key, 0.0) + value
    return out


def test_the_cap_holds_for_the_instance_across_workers_and_recycled_ones(tmp_path):
    server = serve(tmp_path, MAX_TENANTS=20)
    try:
        started_with = set(server.worker_pids())
        sent = send_every_tenant(server)
        with server.client() as client:
            samples = parse(client.get("/metrics").text)
        assert started_with.isdisjoint(server.worker_pids())  # every first worker recycled
    finally:
        server.stop()

    requests = totals(samples, "django_http_requests_total", "tenant")
    named = {tenant for (tenant,) in requests if tenant != "<other>"}
    assert len(named) == 20 and named <= set(TENANTS)
    assert ("<other>",) in requests
    assert sum(requests.values()) == len(TENANTS) * ROUNDS  # every request still counted
    # The admitted tenants are counted exactly, whichever worker answered them.
    assert all(requests[(tenant,)] == ROUNDS for tenant in named)
    assert requests[("<other>",)] == (len(TENANTS) - 20) * ROUNDS
    histogram = totals(samples, "django_http_request_duration_seconds_count", "tenant")
    assert histogram == requests
    assert sum(sent.values()) == len(TENANTS) * ROUNDS


def test_per_tenant_latency_keeps_tenant_counts_and_endpoint_latency_exact(tmp_path):
    server = serve(tmp_path, MAX_TENANTS=200, TENANT_LATENCY="per_tenant")
    try:
        sent = send_every_tenant(server)
        with server.client() as client:
            samples = parse(client.get("/metrics").text)
    finally:
        server.stop()

    by_tenant: dict[tuple[str], int] = {}
    by_endpoint: dict[tuple[str], int] = {}
    for (endpoint, tenant), count in sent.items():
        by_tenant[(tenant,)] = by_tenant.get((tenant,), 0) + count
        by_endpoint[(endpoint,)] = by_endpoint.get((endpoint,), 0) + count
    assert totals(samples, "django_http_requests_total", "tenant") == by_tenant
    # Latency per endpoint, every request in it, and no tenant label on it.
    endpoint_counts = totals(samples, "django_http_request_duration_seconds_count", "endpoint")
    assert endpoint_counts == by_endpoint
    assert not any(
        "tenant" in dict(labels)
        for name, labels in samples
        if name.startswith(("django_http_request_duration_seconds", "django_http_slow_requests"))
    )
    # Latency per tenant, over all its endpoints, buckets complete.
    tenant_counts = totals(samples, "django_http_tenant_request_duration_seconds_count", "tenant")
    assert tenant_counts == by_tenant
    inf = {
        dict(labels)["tenant"]: value
        for (name, labels), value in samples.items()
        if name == "django_http_tenant_request_duration_seconds_bucket"
        and dict(labels)["le"] == "+Inf"
        and dict(labels)["tenant"] != "<none>"
    }
    assert inf == {tenant: count for (tenant,), count in by_tenant.items()}
