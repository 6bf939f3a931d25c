"""/metrics: content negotiation and who may read it."""

from __future__ import annotations

import base64
from types import SimpleNamespace

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

from django_middleware.metrics import HttpMetrics
from tests.support.documented import undocumented


def test_metrics_speaks_text_and_openmetrics(client, painel):
    with painel():
        client.get("/", HTTP_X_TENANT_ID="acme")
        text = client.get("/metrics")
        openmetrics = client.get("/metrics", HTTP_ACCEPT="application/openmetrics-text")
    assert text["Content-Type"].startswith("text/plain; version=0.0.4")
    assert openmetrics["Content-Type"].startswith("application/openmetrics-text")
    text_names = {f.name for f in parse_text(text.content.decode())}
    om_names = {f.name for f in parse_openmetrics(openmetrics.content.decode())}
    expected = {
        "django_http_requests",
        "django_http_request_duration_seconds",
        "django_http_slow_requests",
        "django_http_exceptions",
    }
    assert expected <= text_names and expected <= om_names


@pytest.mark.parametrize("tenant_latency", ["per_endpoint", "per_tenant"])
def test_every_metric_the_middleware_publishes_is_in_the_readme(client, painel, tenant_latency):
    with painel(SLOW_REQUEST_THRESHOLD=0.005, TENANT_LATENCY=tenant_latency):
        client.get("/sleep/10/", HTTP_X_TENANT_ID="acme")  # slow: every series has a sample
        client.raise_request_exception = False
        client.get("/boom/value/")
        text = client.get("/metrics").content.decode()
    # prometheus_client's `*_created` gauges: the README says how to turn them off.
    families = {f.name: f for f in parse_text(text) if not f.name.endswith("_created")}
    assert families["django_http_exceptions"].samples
    if tenant_latency == "per_tenant":
        assert families["django_http_tenant_request_duration_seconds"].samples
    assert undocumented(SimpleNamespace(families=families), ("django_http_",)) == []


def dropped(text: str) -> dict[str, float]:
    return {
        s.labels["reason"]: s.value
        for family in parse_text(text)
        for s in family.samples
        if s.name == "painel_metrics_dropped_total"
    }


def test_a_failing_recording_costs_no_request_and_is_counted(client, painel, monkeypatch):
    with painel():
        before = dropped(client.get("/metrics").content.decode())
        assert set(before) == {"no_space", "no_directory", "read_only", "damaged_file", "other"}

        def broken(self, key):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(HttpMetrics, "add_children", broken)
        response = client.get("/", HTTP_X_TENANT_ID="never-seen")
        after = dropped(client.get("/metrics").content.decode())
    assert response.status_code == 200
    assert after["other"] == before["other"] + 1


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 401),
        ("Bearer wrong", 401),
        ("Bearer s3cret", 200),
        (basic("prom", "wrong"), 401),
        (basic("prom", "pa:ss"), 200),
        ("Basic not-base64!", 401),
        ("Basic cHJvbTpwYTpzcw==é", 401),  # not ASCII: a header a client can send
        ("Basic " + base64.b64encode(b"prom:\xff").decode(), 401),  # not UTF-8 inside
    ],
)
def test_metrics_asks_for_the_token_or_the_password(client, painel, authorization, status):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    with painel(METRICS_BEARER_TOKEN="s3cret", METRICS_BASIC_AUTH="prom:pa:ss"):
        response = client.get("/metrics", **headers)
    assert response.status_code == status
    if status == 401:
        assert response["WWW-Authenticate"] == 'Bearer realm="metrics", Basic realm="metrics"'


@pytest.mark.parametrize(
    ("setting", "challenge"),
    [
        ({"METRICS_BEARER_TOKEN": "s3cret"}, 'Bearer realm="metrics"'),
        ({"METRICS_BASIC_AUTH": "prom:pa:ss"}, 'Basic realm="metrics"'),
    ],
)
def test_the_challenge_names_only_the_configured_scheme(client, painel, setting, challenge):
    with painel(**setting):
        response = client.get("/metrics", HTTP_AUTHORIZATION=basic("prom", "wrong"))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == challenge


def test_metrics_answers_only_allowed_addresses(client, painel):
    with painel(METRICS_ALLOWED_IPS=["10.0.0.0/8", "::1"]):
        assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403
        assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
        assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
        # An IPv4 client of a dual-stack listener, as gunicorn bound to [::] reports it.
        assert client.get("/metrics", REMOTE_ADDR="::ffff:10.1.2.3").status_code == 200
        assert client.get("/metrics", REMOTE_ADDR="::ffff:192.0.2.1").status_code == 403
