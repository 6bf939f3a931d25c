"""The celery collector through the real exporter process, a real worker and redis-server.

One broker, one worker and one exporter serve the whole module: each test uses task names
or queues of its own, so their counts do not mix.
"""

from __future__ import annotations

import signal
import socket
import time

import pytest

from local_services.celery import CeleryWorker
from local_services.exporter import ExporterProcess
from local_services.redis import RedisServer
from local_services.scrape import Scrape
from local_services.waiting import wait_until
from tests.support.celery import sample
from tests.support.documented import undocumented

FORGET_AFTER = 5  # seconds; short so that a killed worker is dropped within the test


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("celery-broker")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def worker(broker, tmp_path_factory):
    worker = CeleryWorker(broker.url, tmp_path_factory.mktemp("celery-worker"), name="main")
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture(scope="module")
def exporter(broker, worker, tmp_path_factory):
    flags = [
        "--collectors", "celery",
        "--broker-url", broker.url,
        "--celery-forget-worker-after", str(FORGET_AFTER),
    ]  # fmt: skip
    with ExporterProcess(tmp_path_factory.mktemp("celery-exporter"), flags) as exporter:
        exporter.wait_for(lambda s: sample(s, "celery_worker_up", hostname=worker.nodename) == 1)
        yield exporter


def test_succeeding_failing_and_retried_tasks_are_counted_exactly(exporter, worker):
    for value in range(3):
        worker.send("painel.succeed", value)
    for _ in range(2):
        worker.send("painel.fail")
    worker.send("painel.flaky", 2)  # two retries, then success
    host = {"hostname": worker.nodename, "queue_name": "celery"}
    # task-sent comes from the producer: this test process, labelled with its host only
    # (read at once: a producer silent for FORGET_AFTER is forgotten)
    producer = {"hostname": socket.gethostname(), "queue_name": "celery"}
    exporter.wait_for(
        lambda s: sample(s, "celery_task_sent_total", task="painel.succeed", **producer) == 3
    )

    def done(scrape):
        return (
            sample(scrape, "celery_task_succeeded_total", task="painel.succeed", **host) == 3
            and sample(
                scrape,
                "celery_task_failed_total",
                task="painel.fail",
                exception="ValueError",
                **host,
            )
            == 2
            and sample(scrape, "celery_task_succeeded_total", task="painel.flaky", **host) == 1
        )

    scrape = exporter.wait_for(done)

    def value(metric, task, **labels):
        return sample(scrape, metric, task=task, **{**host, **labels})

    assert value("celery_task_received_total", "painel.succeed") == 3
    assert value("celery_task_started_total", "painel.succeed") == 3
    assert value("celery_task_runtime_count", "painel.succeed") == 3
    # a task that always fails has its other counters at 0, so failure ratios exist
    assert value("celery_task_succeeded_total", "painel.fail") == 0
    assert value("celery_task_failed_total", "painel.fail", exception="") == 0
    assert value("celery_task_retried_total", "painel.fail") == 0
    assert value("celery_task_runtime_count", "painel.fail") == 0
    # retried twice: three deliveries, two retries, one success, no failure
    assert value("celery_task_received_total", "painel.flaky") == 3
    assert value("celery_task_started_total", "painel.flaky") == 3
    assert value("celery_task_retried_total", "painel.flaky") == 2
    assert value("celery_task_failed_total", "painel.flaky", exception="") == 0
    assert value("celery_task_runtime_count", "painel.flaky") == 1
    runtime_sum = value("celery_task_runtime_sum", "painel.succeed")
    assert 0 < runtime_sum < 30
    buckets = {
        labels["le"]: count
        for labels, count in scrape.samples("celery_task_runtime_bucket", **host)
        if labels["name"] == "painel.succeed"
    }
    assert buckets["+Inf"] == 3 and buckets["10.0"] == 3
    assert scrape.type_of("celery_task_runtime") == "histogram"
    assert scrape.type_of("celery_task_succeeded") == "counter"
    assert undocumented(scrape, ("celery_", "painel_exporter_celery_")) == []


def test_queue_length_counts_every_priority_of_a_backlog(exporter, worker, broker):
    # no worker consumes "backlog"; the exporter learns the queue from task-sent events
    for priority in (0, 0, 3, 5, 9):
        worker.send("painel.succeed", queue="backlog", priority=priority)
    scrape = exporter.wait_for(
        lambda s: sample(s, "celery_queue_length", queue_name="backlog") == 5
    )
    # kombu keeps one list per priority step: the plain key holds only part of them
    assert broker.client().llen("backlog") == 2
    assert sample(scrape, "celery_queue_length", queue_name="celery") is not None
    assert sample(scrape, "painel_exporter_celery_broker_up") == 1
    assert sample(scrape, "painel_exporter_celery_no_events") == 0
    assert sample(scrape, "painel_exporter_celery_events_received_total") > 0
    assert sample(scrape, "painel_exporter_celery_events_skipped_total") == 0


def test_rejected_task_is_counted(exporter, worker):
    worker.send("painel.reject")
    labels = {"task": "painel.reject", "hostname": worker.nodename, "queue_name": "celery"}
    scrape = exporter.wait_for(lambda s: sample(s, "celery_task_rejected_total", **labels) == 1)
    assert sample(scrape, "celery_task_succeeded_total", **labels) == 0


def test_revoked_task_is_counted(exporter, worker):
    # received now, due in 2 s, revoked before: the worker drops it when it falls due
    result = worker.send("painel.sleep", 0, countdown=2)
    labels = {"task": "painel.sleep", "hostname": worker.nodename, "queue_name": "celery"}
    exporter.wait_for(lambda s: sample(s, "celery_task_received_total", **labels) == 1)
    worker.app.control.revoke(result.id)
    scrape = exporter.wait_for(lambda s: sample(s, "celery_task_revoked_total", **labels) == 1)
    assert sample(scrape, "celery_task_started_total", **labels) == 0
    assert sample(scrape, "celery_task_succeeded_total", **labels) == 0


def test_killed_worker_stays_down_until_back_and_a_retired_one_leaves_without_a_trace(
    exporter, worker, broker, tmp_path
):
    # a web pod replaced by a deploy: it sent a task, then nothing more
    with worker.app.events.default_dispatcher(hostname="gen7@web-old") as dispatcher:
        dispatcher.send("task-sent", uuid="from-web-old", name="painel.succeed", queue="celery")
    old_pod = {"task": "painel.succeed", "hostname": "web-old", "queue_name": "celery"}
    exporter.wait_for(lambda s: sample(s, "celery_task_sent_total", **old_pod) == 1)
    victim = CeleryWorker(broker.url, tmp_path / "first", name="victim", queues=["victim"])
    again = CeleryWorker(broker.url, tmp_path / "again", name="victim", queues=["victim"])
    try:
        # Queued before the victim consumes, and its task-sent (the only event naming the
        # queue) seen first: else the victim's task-received and task-started may reach the
        # exporter before it and be labelled with painel.sleep's earlier queue, "celery"
        # (test_revoked_task_is_counted); seen under CPU load.
        victim.send("painel.sleep", 30, queue="victim")
        producer = {"hostname": socket.gethostname(), "queue_name": "victim"}
        exporter.wait_for(
            lambda s: sample(s, "celery_task_sent_total", task="painel.sleep", **producer) == 1
        )
        victim.start()
        exporter.wait_for(lambda s: sample(s, "celery_worker_up", hostname=victim.nodename) == 1)
        exporter.wait_for(
            lambda s: sample(s, "celery_worker_tasks_active", hostname=victim.nodename) == 1
        )
        victim.kill()  # no worker-offline event: only the heartbeats stop

        def main_up(scrape) -> bool:
            # alive until 2 heartbeats late: a loaded machine may delay one, so this is
            # waited for with the victim's state rather than read from a single scrape
            return sample(scrape, "celery_worker_up", hostname=worker.nodename) == 1

        killed_at = time.monotonic()
        scrape = exporter.wait_for(
            lambda s: sample(s, "celery_worker_up", hostname=victim.nodename) == 0 and main_up(s)
        )
        assert sample(scrape, "celery_worker_tasks_active", hostname=victim.nodename) == 0
        started = {"task": "painel.sleep", "hostname": victim.nodename, "queue_name": "victim"}
        assert sample(scrape, "celery_task_started_total", **started) == 1
        # the producer silent for --celery-forget-worker-after is dropped; the crashed
        # worker is not: it reads down until it is back
        scrape = exporter.wait_for(
            lambda s: sample(s, "celery_task_sent_total", **old_pod) is None,
            timeout=FORGET_AFTER + 10,
        )
        time.sleep(max(0.0, killed_at + FORGET_AFTER + 1 - time.monotonic()))
        scrape = exporter.scrape()
        assert sample(scrape, "celery_worker_up", hostname=victim.nodename) == 0
        assert sample(scrape, "celery_task_started_total", **started) == 1

        again.start()
        exporter.wait_for(lambda s: sample(s, "celery_worker_up", hostname=victim.nodename) == 1)
        # a clean shutdown (worker-offline, as on a deploy): out of celery_worker_up at once,
        # every series naming it dropped after --celery-forget-worker-after
        again.stop()
        exporter.wait_for(
            lambda s: sample(s, "celery_worker_up", hostname=victim.nodename) is None and main_up(s)
        )
        scrape = exporter.wait_for(
            lambda s: sample(s, "celery_task_started_total", **started) is None and main_up(s),
            timeout=FORGET_AFTER + 10,
        )
        assert not [
            labels
            for family in scrape.families.values()
            for labels in (s.labels for s in family.samples)
            if labels.get("hostname") in {victim.nodename, "web-old"}
        ]
    finally:
        victim.stop()
        again.stop()


def test_landing_page_shows_broker_without_password_and_workers(exporter, worker, broker):
    # the worker reads up once a heartbeat is at most 2 s old: on a loaded machine a late
    # heartbeat can make one page read "down", so read until it says up (or time runs out)
    def page_with_worker_up() -> str | None:
        page = exporter.get("/").body
        return page if f"{worker.nodename} up" in page else None

    page = wait_until(page_with_worker_up, timeout=20)
    assert f"127.0.0.1:{broker.port}" in page
    assert "receiving" in page
    assert f"{worker.nodename} up" in page


def test_scrape_stays_fast_with_the_broker_hung_or_down_and_recovers(redis_server, tmp_path):
    worker = CeleryWorker(redis_server.url, tmp_path, name="outage").start()
    flags = ["--collectors", "celery", "--broker-url", redis_server.url]
    try:
        with ExporterProcess(tmp_path, flags) as exporter:
            exporter.wait_for(
                lambda s: sample(s, "celery_worker_up", hostname=worker.nodename) == 1
            )
            # a broker that hangs (stopped, its port still open): the scrape does not wait
            redis_server.process.signal(signal.SIGSTOP)
            try:
                scrape = Scrape(exporter.get("/metrics", timeout=1.0).body)
                assert sample(scrape, "painel_exporter_celery_broker_up") == 0
                assert scrape.value("painel_exporter_collector_success", collector="celery") == 1
                assert sample(scrape, "celery_worker_up", hostname=worker.nodename) is not None
            finally:
                redis_server.process.signal(signal.SIGCONT)
            exporter.wait_for(lambda s: sample(s, "painel_exporter_celery_broker_up") == 1)

            redis_server.kill()
            started = time.monotonic()
            scrape = exporter.scrape()
            assert time.monotonic() - started < 1.0
            assert sample(scrape, "painel_exporter_celery_broker_up") == 0
            assert scrape.value("painel_exporter_collector_success", collector="celery") == 1
            assert sample(scrape, "celery_queue_length", queue_name="celery") is None

            received = sample(scrape, "painel_exporter_celery_events_received_total")
            redis_server.start()  # same port; worker and exporter reconnect by themselves
            exporter.wait_for(lambda s: sample(s, "painel_exporter_celery_broker_up") == 1)
            # a heartbeat after the restart: both the worker and the receiver are back
            exporter.wait_for(
                lambda s: sample(s, "painel_exporter_celery_events_received_total") > received,
                timeout=60,
            )
            worker.send("painel.succeed")
            exporter.wait_for(
                lambda s: (
                    sample(
                        s,
                        "celery_task_succeeded_total",
                        task="painel.succeed",
                        hostname=worker.nodename,
                    )
                    == 1
                ),
                timeout=60,
            )
            assert "reconnecting" in exporter.log()
    finally:
        worker.stop()
