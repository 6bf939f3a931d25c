"""MemoryRequestSeries, the middleware's single-process writer: what it records reads exactly as
what prometheus_client's public API records (values, exemplars), from many threads too."""

from __future__ import annotations

import os
import threading

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.exposition import generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from django_middleware.conf import DEFAULT_BUCKETS
from django_middleware.memory_writer import MemoryRequestSeries
from django_middleware.metrics import HttpMetrics
from django_middleware.request_series import RequestSeries, request_series

# Dyadic values only, so that sums are exact in any order; 0.5 and 1.0 sit on bucket bounds
# (counted in them: le is inclusive), 16 is past the last bound (+Inf only).
DURATIONS = (0.0078125, 0.0625, 0.5, 1.0, 3.0, 16.0)
TENANTS = ("acme", "globex")
THREADS = 4
PER_THREAD = 2000

pytestmark = pytest.mark.skipif(
    "PROMETHEUS_MULTIPROC_DIR" in os.environ, reason="single-process values only"
)


def record_everything(series_type) -> tuple[CollectorRegistry, type]:
    """The same requests, exemplars and threads as the middleware would record them."""
    registry = CollectorRegistry()
    metrics = HttpMetrics(DEFAULT_BUCKETS, registry=registry)
    series = {
        tenant: series_type(
            metrics.requests.labels("GET", "/api/", "200", tenant),
            metrics.duration.labels("GET", "/api/", tenant),
        )
        for tenant in TENANTS
    }
    for index, tenant in enumerate(TENANTS):
        for _ in range(index + 1):
            for seconds in DURATIONS:
                series[tenant].record(seconds)
    # As a slow request does: its bucket keeps the last exemplar.
    series["acme"].record(1.0, {"request_id": "r1", "tenant": "acme"})
    series["acme"].record(3.0, {"request_id": "r2", "tenant": "acme"})
    series["globex"].record(1.0, {"request_id": "r3", "tenant": "globex"})

    def hammer() -> None:
        for i in range(PER_THREAD):
            series["acme"].record(DURATIONS[i % len(DURATIONS)])

    threads = [threading.Thread(target=hammer) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return registry, type(series["acme"])


def exposed(registry: CollectorRegistry) -> list:
    """Every django_http_ sample as Prometheus reads it, with its exemplar but not the time
    things happened (_created series, exemplar timestamps): those differ between two runs."""
    samples = []
    for family in registry.collect():
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            exemplar = sample.exemplar and (sample.exemplar.labels, sample.exemplar.value)
            samples.append((sample.name, sample.labels, sample.value, exemplar))
    return samples


def test_the_memory_writer_records_what_the_public_api_records():
    public, public_type = record_everything(RequestSeries)
    memory, memory_type = record_everything(request_series)
    assert public_type is RequestSeries
    assert memory_type is MemoryRequestSeries  # else this test would compare nothing
    assert exposed(memory) == exposed(public)


def test_exact_totals_from_many_threads_and_the_exemplar_in_the_exposition():
    registry, _ = record_everything(request_series)
    families = text_string_to_metric_families(generate_latest(registry).decode())
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample
        for family in families
        for sample in family.samples
    }
    acme = {"method": "GET", "endpoint": "/api/", "tenant": "acme"}

    def sample(name: str, **labels: str):
        return samples[(name, frozenset({**acme, **labels}.items()))]

    per_thread = [DURATIONS[i % len(DURATIONS)] for i in range(PER_THREAD)]
    count = len(DURATIONS) + THREADS * PER_THREAD + 2  # the two slow ones too
    total = sum(DURATIONS) + 1.0 + 3.0 + THREADS * sum(per_thread)
    assert sample("django_http_requests_total", status="200").value == count
    assert sample("django_http_request_duration_seconds_count").value == count
    assert sample("django_http_request_duration_seconds_sum").value == total
    # The last slow request's exemplar, on the bucket that counted it.
    exemplar = sample("django_http_request_duration_seconds_bucket", le="5.0").exemplar
    assert (exemplar.labels, exemplar.value) == ({"request_id": "r2", "tenant": "acme"}, 3.0)
