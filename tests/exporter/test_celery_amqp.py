"""The celery collector on RabbitMQ: events and queue lengths over AMQP.

A real RabbitMQ node on free ports (its own epmd), where Debian's rabbitmq-server is
installed; elsewhere the test is skipped.
"""

from __future__ import annotations

import pytest

from local_services.celery import CeleryWorker
from local_services.exporter import ExporterProcess
from local_services.rabbitmq import RabbitMQServer
from tests.support.celery import sample

pytestmark = pytest.mark.skipif(
    not RabbitMQServer.available(), reason="Debian's rabbitmq-server is not installed"
)


@pytest.fixture
def rabbitmq(tmp_path):
    server = RabbitMQServer(tmp_path / "rabbitmq").start()
    yield server
    server.stop()


def test_task_events_and_queue_lengths_over_amqp(rabbitmq, tmp_path):
    worker = CeleryWorker(rabbitmq.url, tmp_path, name="amqp").start()
    flags = ["--collectors", "celery", "--broker-url", rabbitmq.url]
    try:
        with ExporterProcess(tmp_path, flags) as exporter:
            exporter.wait_for(
                lambda s: sample(s, "celery_worker_up", hostname=worker.nodename) == 1, timeout=30
            )
            worker.send("painel.succeed")
            worker.send("painel.fail")
            for priority in (0, 5, 9):  # nothing consumes "backlog"
                worker.send("painel.succeed", queue="backlog", priority=priority)
            host = {"hostname": worker.nodename, "queue_name": "celery"}
            scrape = exporter.wait_for(
                lambda s: (
                    sample(s, "celery_task_succeeded_total", task="painel.succeed", **host) == 1
                    and sample(
                        s,
                        "celery_task_failed_total",
                        task="painel.fail",
                        exception="ValueError",
                        **host,
                    )
                    == 1
                    and sample(s, "celery_queue_length", queue_name="backlog") == 3
                )
            )
            assert sample(scrape, "painel_exporter_celery_broker_up") == 1
            assert sample(scrape, "celery_task_succeeded_total", task="painel.fail", **host) == 0
            page = exporter.get("/").body
            assert f"@127.0.0.1:{rabbitmq.port}//" in page and "guest" not in page
    finally:
        worker.stop()
