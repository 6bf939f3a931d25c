"""The middleware's behaviour through Django's own request handling, in-process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import string
from datetime import datetime

import pytest
from django.db.utils import OperationalError
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from django_middleware.middleware import MetricsMiddleware

from .helpers import label_sets, sample


def test_an_exception_is_counted_and_still_raised(client, painel):
    with painel():
        with pytest.raises(OperationalError, match="the database went away"):
            client.get("/boom/database/", HTTP_X_TENANT_ID="acme")
        with pytest.raises(ValueError):
            client.get("/boom/value/")
        labels = {"method": "GET", "endpoint": "/boom/database/", "tenant": "acme"}
        assert (
            sample(
                "django_http_exceptions_total",
                exception="django.db.utils.OperationalError",
                **labels,
            )
            == 1
        )
        assert sample("django_http_requests_total", status="500", **labels) == 1
        assert (
            sample(
                "django_http_exceptions_total",
                method="GET",
                endpoint="/boom/value/",
                tenant="<none>",
                exception="ValueError",
            )
            == 1
        )


def test_an_exception_let_through_by_django_is_counted_once(client, painel):
    from django.test import override_settings

    with painel(), override_settings(DEBUG_PROPAGATE_EXCEPTIONS=True):
        with pytest.raises(ValueError):
            client.get("/boom/value/")
        labels = {"method": "GET", "endpoint": "/boom/value/", "tenant": "<none>"}
        assert sample("django_http_requests_total", status="500", **labels) == 1
        assert sample("django_http_exceptions_total", exception="ValueError", **labels) == 1


def test_the_error_page_is_what_django_answers_without_us(django_project, painel):
    from django.test import Client, override_settings

    def error_page():
        response = Client(raise_request_exception=False).get("/boom/database/")
        return response.status_code, response.headers["Content-Type"], response.content

    with painel():
        with_us = error_page()
        labels = {"method": "GET", "endpoint": "/boom/database/", "tenant": "<none>"}
        exception = "django.db.utils.OperationalError"
        assert sample("django_http_exceptions_total", exception=exception, **labels) == 1
    others = [
        m
        for m in django_project.MIDDLEWARE
        if m != "django_middleware.middleware.MetricsMiddleware"
    ]
    with override_settings(MIDDLEWARE=others):
        without_us = error_page()
    assert with_us == without_us and with_us[0] == 500


def test_a_slow_request_is_counted_logged_and_linked_by_exemplar(client, painel, caplog):
    caplog.set_level(logging.INFO, logger="painel.slow_requests")
    with painel(SLOW_REQUEST_THRESHOLD=0.1, USER_FIELD="username"):
        client.get(
            "/sleep/150/", HTTP_X_TENANT_ID="acme", HTTP_X_TEST_USER="ana", HTTP_X_REQUEST_ID="r-1"
        )
        labels = {"method": "GET", "endpoint": "/sleep/<int:ms>/", "tenant": "acme"}
        assert sample("django_http_slow_requests_total", **labels) == 1
        exposition = client.get("/metrics", HTTP_ACCEPT="application/openmetrics-text")
        assert exposition["Content-Type"].startswith("application/openmetrics-text")
        exemplars = [
            s.exemplar
            for family in text_string_to_metric_families(exposition.content.decode())
            for s in family.samples
            if s.exemplar is not None and s.labels.get("endpoint") == "/sleep/<int:ms>/"
        ]
    records = [r for r in caplog.records if r.name == "painel.slow_requests"]
    assert len(records) == 1
    record = json.loads(records[0].getMessage())
    assert set(record) == {
        "endpoint", "method", "tenant", "user", "status", "duration_seconds", "timestamp",
        "request_id",
    }  # fmt: skip
    assert record["endpoint"] == "/sleep/<int:ms>/"
    assert (record["method"], record["tenant"], record["user"]) == ("GET", "acme", "ana")
    assert (record["status"], record["request_id"]) == (200, "r-1")
    assert record["duration_seconds"] >= 0.15
    assert datetime.fromisoformat(record["timestamp"]).utcoffset().total_seconds() == 0
    assert len(exemplars) == 1
    assert exemplars[0].labels == {"request_id": "r-1", "tenant": "acme"}


def test_slow_records_name_the_user_id_by_default_and_make_up_a_request_id(client, painel, caplog):
    caplog.set_level(logging.INFO, logger="painel.slow_requests")
    with painel(SLOW_REQUEST_THRESHOLD=0.1):
        client.get("/sleep/150/", HTTP_X_TEST_USER="ana")
    (record,) = [
        json.loads(r.getMessage()) for r in caplog.records if r.name == "painel.slow_requests"
    ]
    assert record["user"] == "3"  # the test project's user pk is len(name)
    assert len(record["request_id"]) == 32


def test_a_slow_request_is_answered_when_its_user_cannot_be_read(client, painel, caplog):
    caplog.set_level(logging.INFO, logger="painel.slow_requests")
    # The session is first read by the slow-request record, and the in-process project's
    # database has no session table: the look-up fails as it would with the database down.
    client.cookies["sessionid"] = "s" * 32
    with painel(SLOW_REQUEST_THRESHOLD=0.1):
        response = client.get("/sleep/150/")
    assert (response.status_code, response.content) == (200, b"slept")
    (record,) = [
        json.loads(r.getMessage()) for r in caplog.records if r.name == "painel.slow_requests"
    ]
    assert record["user"] is None
    assert "could not read the user of a slow request" in caplog.text


def test_the_middleware_is_a_coroutine_under_asgi_and_plain_under_wsgi(django_project):
    async def async_view(request):
        return None

    def sync_view(request):
        return None

    assert asyncio.iscoroutinefunction(MetricsMiddleware(async_view))
    assert not asyncio.iscoroutinefunction(MetricsMiddleware(sync_view))


def random_path(rng: random.Random) -> str:
    word = "".join(rng.choices(string.ascii_lowercase + string.digits, k=rng.randint(1, 30)))
    return rng.choice(
        [
            f"/{word}/{rng.randint(0, 10**9)}",
            f"/items/{word}/",
            f"/api/v1/orders/{rng.randint(0, 10**9)}/",
            f"/legacy/{rng.randint(1000, 9999)}/",
            f"/status/{rng.choice([200, 201, 404, 500])}/",
        ]
    )


def test_random_traffic_leaves_a_bounded_number_of_series(client, painel):
    rng = random.Random(2024)
    methods = ["GET", "POST", "PUT", "DELETE", "PURGE", "FOO", "PROPFIND"]
    total = 10_000
    with painel(MAX_TENANTS=25):
        for _ in range(total):
            tenant = "".join(rng.choices(string.printable[:62], k=rng.randint(1, 100)))
            client.generic(rng.choice(methods), random_path(rng), HTTP_X_TENANT_ID=tenant)
        requests = label_sets("django_http_requests_total")
        assert sum(sample("django_http_requests_total", **labels) for labels in requests) == total
        durations = label_sets("django_http_request_duration_seconds_count")
    endpoints = {labels["endpoint"] for labels in requests}
    tenants = {labels["tenant"] for labels in requests}
    assert endpoints == {
        "<unmatched>",
        "/items/<slug:slug>/",
        "/api/v1/orders/<int:pk>/",
        "/legacy/(?P<year>[0-9]{4})/",
        "/status/<int:code>/",
    }
    assert {labels["method"] for labels in requests} == {"GET", "POST", "PUT", "DELETE", "OTHER"}
    assert len(tenants) == 26 and "<other>" in tenants
    assert max(len(tenant) for tenant in tenants) <= 64
    # 5 endpoints x 5 methods x 26 tenants x at most 5 status codes, whatever the traffic.
    assert len(requests) <= 5 * 5 * 26 * 5
    assert len(durations) <= 5 * 5 * 26


def test_the_look_up_of_requests_as_they_come_stays_as_bounded_as_the_labels(painel):
    # The middleware finds a request's series from its method, route, status and tenant header
    # as they come; random methods and tenants must not grow that look-up past the series.
    from django.http import HttpResponse
    from django.test import RequestFactory
    from django.urls import Resolver404, resolve

    def view(request):
        # Unmatched: resolver_match stays None, as in Django's handler.
        with contextlib.suppress(Resolver404):
            request.resolver_match = resolve(request.path_info)
        return HttpResponse()

    rng = random.Random(7)
    factory = RequestFactory()
    methods = ["GET", "POST", "PURGE", "FOO"]
    with painel(MAX_TENANTS=5):
        middleware = MetricsMiddleware(view)
        for _ in range(3000):
            tenant = "".join(rng.choices(string.ascii_letters, k=rng.randint(1, 100)))
            request = factory.generic(rng.choice(methods), random_path(rng))
            request.META["HTTP_X_TENANT_ID"] = rng.choice([tenant, "acme", ""])
            middleware(request)
        series = label_sets("django_http_requests_total")
        assert sum(sample("django_http_requests_total", **labels) for labels in series) == 3000
    assert {labels["tenant"] for labels in series} >= {"acme", "<none>", "<other>"}
    assert 0 < len(middleware.seen) <= len(series)
