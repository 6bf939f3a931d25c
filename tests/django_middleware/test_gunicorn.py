"""The test project under a real gunicorn with 3 workers in multiprocess mode, its cache and
Celery broker on a real redis-server."""

from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

from local_services.gunicorn import GunicornServer
from local_services.redis import RedisServer
from local_services.waiting import wait_until

from .helpers import WSGI_APP, server_env
from .multiprocess.helpers import DAMAGED_FILE, NO_SUCH_PID

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis-middleware")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def app(tmp_path_factory, redis):
    server = GunicornServer(
        tmp_path_factory.mktemp("gunicorn-middleware"),
        WSGI_APP,
        workers=3,
        env=server_env(PAINEL_TEST_REDIS_URL=redis.url),
    ).start()
    yield server
    server.stop()


def samples(text: str, name: str) -> list:
    return [s for family in parse_text(text) for s in family.samples if s.name == name]


def test_requests_from_all_workers_add_up_exactly(app):
    paths = [f"/sleep/{ms}/" for ms in (1, 5, 10)] + ["/api/v1/orders/7/", "/nope"]
    jobs = [(paths[i % len(paths)], f"tenant-{i % 4}") for i in range(300)]

    def send(chunk):
        with httpx.Client(base_url=app.url, timeout=30) as client:
            return [
                client.get(path, headers={"X-Tenant-ID": tenant}).status_code
                for path, tenant in chunk
            ]

    def send_round():
        with ThreadPoolExecutor(6) as pool:
            statuses = [
                code for codes in pool.map(send, [jobs[i::6] for i in range(6)]) for code in codes
            ]
        assert statuses.count(200) == 240 and statuses.count(404) == 60

    rounds = app.send_until_two_workers_wrote(send_round)

    with app.client() as client:
        text = client.get("/metrics").text
    counted = [
        s for s in samples(text, "django_http_requests_total") if s.labels["tenant"] != "<none>"
    ]
    assert sum(s.value for s in counted) == 300 * rounds
    by_tenant = {}
    for s in counted:
        by_tenant[s.labels["tenant"]] = by_tenant.get(s.labels["tenant"], 0) + s.value
    assert by_tenant == {f"tenant-{i}": 75 * rounds for i in range(4)}
    histogram_count = sum(
        s.value
        for s in samples(text, "django_http_request_duration_seconds_count")
        if s.labels["tenant"] != "<none>"
    )
    assert histogram_count == 300 * rounds


def test_metrics_parses_and_passes_promtool(app):
    with app.client() as client:
        client.get("/query/", headers={"X-Tenant-ID": "acme"})
        text = client.get("/metrics").text
        openmetrics = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    names = {family.name for family in parse_text(text)}
    assert {"django_http_requests", "django_http_request_duration_seconds"} <= names
    # django-prometheus's database wrapper measures the queries; we do not measure them again.
    assert any(s.value >= 1 for s in samples(text, "django_db_execute_total"))
    assert {f.name for f in parse_openmetrics(openmetrics.text)} >= {"django_http_requests"}
    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed: run scripts/bootstrap.sh"
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def unreadable_files(app) -> dict[str, float]:
    with app.client() as client:
        text = client.get("/metrics").text
    return {
        s.labels["stage"]: s.value
        for s in samples(text, "painel_multiprocess_unreadable_files_total")
    }


def test_unreadable_files_count_up_from_zero(app):
    # Both stages show 0 before any skip: a series born at 1 would have no increase().
    assert unreadable_files(app) == {"scrape": 0, "merge": 0}
    damaged = app.multiproc_dir / f"counter_{NO_SUCH_PID}.db"
    damaged.write_bytes(DAMAGED_FILE)
    try:
        unreadable_files(app)  # skips the file; the next scrape shows the count
        counted = unreadable_files(app)
    finally:
        damaged.unlink()
    assert counted["scrape"] >= 1 and counted["merge"] == 0


def health(app) -> tuple[int, dict]:
    with app.client() as client:
        response = client.get("/health")
    return response.status_code, response.json()


def wait_for_health(app, status: int, timeout: float = 30.0) -> dict:
    """/health's body once it answers `status`."""

    def answered() -> dict | None:
        code, body = health(app)
        return body if code == status else None

    return wait_until(answered, timeout, what=f"/health to answer {status}")


def test_health_follows_the_redis_server(app, redis):
    body = wait_for_health(app, 200)
    assert body["status"] == "ok"
    assert set(body["components"]) == {"database", "cache", "cache_local", "celery_broker"}
    assert all(
        c["status"] == "ok" and c["latency_seconds"] >= 0 for c in body["components"].values()
    )

    redis.stop()
    try:
        body = wait_for_health(app, 503)
        assert body["status"] == "error"
        for name in ("cache", "celery_broker"):
            assert body["components"][name]["status"] == "error"
            assert body["components"][name]["error"]
        assert body["components"]["database"]["status"] == "ok"
    finally:
        redis.start()
    body = wait_for_health(app, 200)
    assert body["components"]["cache"]["status"] == "ok"
