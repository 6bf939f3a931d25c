"""First events after Prometheus started are counted by increase(), single and in bursts.

Two real Prometheus servers (1 s and 2 s intervals, so different scrape offsets) already
scrape a gunicorn app (three workers, any of which answers a scrape), a single-process
runserver-like app (gunicorn without multiprocess, one worker) and the exporter; then the
first events of each kind arrive: new tenants' requests, a 500 with a new exception type,
ERROR records with new exception types, a failed task on a worker that just joined.
"""

from __future__ import annotations

import json
import logging

import pytest

from local_services.celery import CeleryWorker
from local_services.exporter import ExporterProcess
from local_services.gunicorn import PAINEL_CONFIG, GunicornServer
from tests.django_middleware.helpers import server_env
from tests.exporter.test_logs import file_logger, raise_and_log
from tests.support.increase import HOLD, assert_counted, counted, two_prometheus, wait_scraping


def _app(workdir, name, multiprocess):
    settings = json.dumps({"MAX_SCRAPE_INTERVAL": HOLD})
    return GunicornServer(
        workdir / name,
        "tests.django_middleware.project.wsgi:application",
        workers=3 if multiprocess else 1,
        multiprocess=multiprocess,
        config=PAINEL_CONFIG if multiprocess else None,
        env=server_env(PAINEL_TEST_SETTINGS=settings),
        name=name,
    )


@pytest.fixture
def stack(tmp_path, redis_server):
    errors_log = tmp_path / "errors.log"
    errors_log.touch()
    apps = [_app(tmp_path, "multi", True), _app(tmp_path, "single", False)]
    flags = [
        "--collectors", "logs,celery",
        "--log-file", f"errors={errors_log}",
        "--broker-url", redis_server.url,
        "--max-scrape-interval", str(HOLD),
    ]  # fmt: skip
    exporter = ExporterProcess(tmp_path / "exporter", flags)
    started = []
    try:
        for service in [*apps, exporter]:
            started.append(service.start())
        targets = [f"127.0.0.1:{app.port}" for app in apps]
        servers = two_prometheus(tmp_path, targets, [f"127.0.0.1:{exporter.port}"])
        for server in servers:
            started.append(server.start())
        wait_scraping(servers, 3)  # every target scraped a few times before the first event
        yield apps, exporter, errors_log, servers, redis_server
    finally:
        for service in reversed(started):
            service.stop()


def test_first_events_after_prometheus_started_are_counted_exactly(stack, tmp_path):
    apps, exporter, errors_log, servers, redis_server = stack
    for app in apps:
        with app.client() as client:
            client.get("/api/v1/orders/1/", headers={"X-Tenant-ID": "single"})
            for _ in range(40):
                client.get("/orders/", headers={"X-Tenant-ID": "burst"})
            assert client.get("/boom/value/", headers={"X-Tenant-ID": "boom"}).status_code == 500
    logger = file_logger(errors_log, logging.FileHandler(errors_log))
    for error in (LookupError("a"), ArithmeticError("b"), UnicodeError("c")):
        raise_and_log(logger, error)
    worker = CeleryWorker(redis_server.url, tmp_path, name="joined").start()
    try:
        worker.send("painel.fail")
        expected = {
            'django_http_requests_total{tenant="single"}': 2,
            'django_http_requests_total{tenant="burst"}': 80,
            'django_http_exceptions_total{tenant="boom",exception="ValueError"}': 2,
            'django_http_request_duration_seconds_count{tenant="burst"}': 80,
            'log_exceptions_total{log="errors"}': 3,
            'log_messages_total{log="errors",level="error"}': 3,
            'celery_task_failed_total{name="painel.fail",hostname="joined@localhost"}': 1,
        }
        assert_counted(servers, expected)
        for server in servers:
            for app in apps:  # gunicorn's workers and the single process each count theirs
                burst = (
                    f'django_http_requests_total{{tenant="burst",instance="127.0.0.1:{app.port}"}}'
                )
                assert counted(server, burst) == 40, (server.interval, app.name)
    finally:
        worker.stop()
