"""Label rules, as a user reads them on /metrics after real requests through Django."""

from __future__ import annotations

import pytest

from .helpers import label_sets, sample

REQUESTS = "django_http_requests_total"


def requests(**labels: str) -> float:
    return sample(REQUESTS, **labels)


def test_endpoint_is_the_route_with_includes_joined(client, painel):
    with painel():
        client.get("/api/v1/orders/42/")
        client.get("/api/v1/orders/43/")
        client.get("/legacy/2024/")
        seen = {labels["endpoint"] for labels in label_sets(REQUESTS)}
        assert (
            requests(
                method="GET", endpoint="/api/v1/orders/<int:pk>/", status="200", tenant="<none>"
            )
            == 2
        )
        assert "/legacy/(?P<year>[0-9]{4})/" in seen
        assert not any("42" in endpoint or "2024" in endpoint for endpoint in seen)


def test_unmatched_path_is_one_label_and_status_is_the_code(client, painel):
    with painel():
        client.get("/no/such/page")
        client.get("/another/missing/page/")
        client.get("/status/418/")
        assert requests(method="GET", endpoint="<unmatched>", status="404", tenant="<none>") == 2
        assert (
            requests(method="GET", endpoint="/status/<int:code>/", status="418", tenant="<none>")
            == 1
        )


def test_non_standard_verbs_count_as_other(client, painel):
    with painel():
        client.generic("PURGE", "/")
        client.generic("BREW", "/")
        client.post("/")
        assert requests(method="OTHER", endpoint="/", status="200", tenant="<none>") == 2
        assert requests(method="POST", endpoint="/", status="200", tenant="<none>") == 1


def test_tenant_sources_in_order(client, painel):
    resolver = "tests.django_middleware.project.tenants.from_query"
    with painel(TENANT_RESOLVER=resolver, TENANT_HEADER="X-Org"):
        client.get("/?tenant=from-resolver", HTTP_X_ORG="from-header", HTTP_X_TEST_SCHEMA="schema")
        client.get("/", HTTP_X_ORG="from-header", HTTP_X_TEST_SCHEMA="from-schema")
        client.get("/", HTTP_X_ORG="from-header")
        client.get("/", HTTP_X_TENANT_ID="default-header-is-not-used-now")
        tenants = {labels["tenant"] for labels in label_sets(REQUESTS)}
        assert tenants == {"from-resolver", "from-schema", "from-header", "<none>"}


def test_a_broken_resolver_falls_back_to_the_header(client, painel, caplog):
    with painel(TENANT_RESOLVER="tests.django_middleware.project.tenants.broken"):
        response = client.get("/", HTTP_X_TENANT_ID="acme")
        assert response.status_code == 200
        assert requests(method="GET", endpoint="/", status="200", tenant="acme") == 1
        assert "TENANT_RESOLVER raised" in caplog.text


def test_tenants_are_cut_and_capped(client, painel):
    with painel(MAX_TENANTS=3):
        long_name = "t" * 100
        client.get("/", HTTP_X_TENANT_ID=long_name)
        client.get("/", HTTP_X_TENANT_ID=long_name + "-same-first-64")
        for name in ("b", "c", "d", "e"):
            client.get("/", HTTP_X_TENANT_ID=name)
        client.get("/", HTTP_X_TENANT_ID="b")
        by_tenant = {labels["tenant"]: requests(**labels) for labels in label_sets(REQUESTS)}
        assert by_tenant == {"t" * 64: 2, "b": 2, "c": 1, "<other>": 2}


@pytest.mark.parametrize("path", ["/metrics", "/health"])
def test_excluded_paths_are_not_recorded(client, painel, path):
    with painel():
        assert client.get(path).status_code in (200, 503)
        assert label_sets(REQUESTS) == []
        assert label_sets("django_http_request_duration_seconds_count") == []


def test_excluded_paths_are_configurable_with_prefixes(client, painel):
    with painel(EXCLUDED_PATHS=["/metrics", "/api/v1/"]):
        client.get("/api/v1/orders/1/")
        client.get("/metrics")
        client.get("/")
        assert {labels["endpoint"] for labels in label_sets(REQUESTS)} == {"/"}


def test_per_tenant_latency_moves_the_tenant_to_its_own_histogram(client, painel):
    with painel(TENANT_LATENCY="per_tenant", SLOW_REQUEST_THRESHOLD=0.1):
        client.get("/api/v1/orders/1/", HTTP_X_TENANT_ID="acme")
        client.get("/api/v1/orders/2/", HTTP_X_TENANT_ID="globex")
        client.get("/sleep/150/", HTTP_X_TENANT_ID="acme")
        orders = {"method": "GET", "endpoint": "/api/v1/orders/<int:pk>/"}
        # Request (and error) rates keep the tenant.
        assert requests(**orders, status="200", tenant="acme") == 1
        assert requests(**orders, status="200", tenant="globex") == 1
        # Latency per endpoint, exact, without the tenant.
        assert sample("django_http_request_duration_seconds_count", **orders) == 2
        assert {
            tuple(sorted(labels)) for labels in label_sets("django_http_slow_requests_total")
        } == {("endpoint", "method")}
        assert (
            sample("django_http_slow_requests_total", method="GET", endpoint="/sleep/<int:ms>/")
            == 1
        )
        # Latency per tenant, over its endpoints.
        tenant_count = "django_http_tenant_request_duration_seconds_count"
        assert sample(tenant_count, tenant="acme") == 2
        assert sample(tenant_count, tenant="globex") == 1
        assert (
            sample("django_http_tenant_request_duration_seconds_bucket", tenant="acme", le="0.1")
            == 1
        )


def test_latency_without_tenant_when_off(client, painel):
    with painel(TENANT_LATENCY="off"):
        client.get("/api/v1/orders/1/", HTTP_X_TENANT_ID="acme")
        assert requests(
            method="GET", endpoint="/api/v1/orders/<int:pk>/", status="200", tenant="acme"
        )
        durations = label_sets("django_http_request_duration_seconds_count")
        assert durations == [{"method": "GET", "endpoint": "/api/v1/orders/<int:pk>/"}]
        assert not label_sets("django_http_tenant_request_duration_seconds_count")
