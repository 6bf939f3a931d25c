"""The celery collector's options, each against a real redis-server (and worker where one
is needed): task events switched on by the exporter, the no-events signals, a global key prefix,
the cap on task names, and bad flags refused at start-up."""

from __future__ import annotations

import pytest

from exporter.collectors.base import ConfigError
from exporter.config import load
from local_services.celery import CeleryWorker
from local_services.celery_app import make_app
from local_services.exporter import ExporterProcess
from local_services.waiting import wait_until
from tests.support.celery import sample, send_probe_event, wait_for_receiver


def test_missing_task_events_are_reported_until_enable_events_turns_them_on(redis_server, tmp_path):
    # without -E a worker still sends heartbeats, but no task event
    worker = CeleryWorker(redis_server.url, tmp_path, name="quiet", events=False).start()
    base = ["--collectors", "celery", "--broker-url", redis_server.url]
    gauge = "painel_exporter_celery_workers_without_task_events"
    try:
        with ExporterProcess(tmp_path, base, name="passive") as passive:
            passive.wait_for(lambda s: sample(s, "celery_worker_up", hostname=worker.nodename) == 1)
            # a regular heartbeat (with the count of tasks processed) before the task: the
            # exporter's wake-up call is answered by a heartbeat without that count
            passive.wait_for(
                lambda s: sample(s, "painel_exporter_celery_events_received_total") >= 2
            )
            worker.send("painel.succeed")
            passive.wait_for(lambda s: sample(s, gauge) == 1)
            assert "NO TASK EVENTS from quiet@localhost" in passive.get("/").body
            assert "--celery-enable-events" in passive.log()

            with ExporterProcess(tmp_path, [*base, "--celery-enable-events"], name="active"):
                wait_until(lambda: "Events of group {task} enabled" in worker.tail(), 20)
                # the worker now sends task events to every listener, the passive one too
                worker.send("painel.succeed")
                scrape = passive.wait_for(
                    lambda s: (
                        sample(
                            s,
                            "celery_task_succeeded_total",
                            task="painel.succeed",
                            hostname=worker.nodename,
                        )
                        == 1
                    )
                )
                assert sample(scrape, gauge) == 0
                assert "NO TASK EVENTS" not in passive.get("/").body
    finally:
        worker.stop()


def test_silence_is_reported_until_events_arrive(redis_server, tmp_path):
    # a reachable broker with no worker on it: not a heartbeat, not an event
    flags = ["--collectors", "celery", "--broker-url", redis_server.url]
    flags += ["--celery-no-events-after", "1"]
    gauge = "painel_exporter_celery_no_events"
    producer = make_app(redis_server.url)
    try:
        with ExporterProcess(tmp_path, flags) as exporter:
            exporter.wait_for(lambda s: sample(s, gauge) == 1)
            assert "NO EVENTS" in exporter.get("/").body
            wait_until(lambda: "no celery events from" in exporter.log(), 10)
            assert "--celery-key-prefix" in exporter.log()

            def heard(scrape) -> bool:
                send_probe_event(producer)  # one more, so the last is never a second old
                return sample(scrape, gauge) == 0

            exporter.wait_for(heard)
            assert "celery events arrive again" in exporter.log()
    finally:
        producer.close()


def test_key_prefix_label_caps_and_malformed_events(redis_server, tmp_path):
    flags = [
        "--collectors", "celery",
        "--broker-url", redis_server.url,
        "--celery-key-prefix", "tenant1:",
        "--celery-max-task-names", "2",
    ]  # fmt: skip
    producer = make_app(redis_server.url, key_prefix="tenant1:")
    try:
        with ExporterProcess(tmp_path, flags) as exporter:
            wait_for_receiver(exporter, producer)
            # nothing consumes "reports": only task-sent events and the backlog itself
            for name in ("report.a", "report.b", "report.c", "report.d"):
                producer.send_task(name, queue="reports", priority=6)
            # the queue length is read from Redis, the task-sent events arrive on their own
            scrape = exporter.wait_for(
                lambda s: (
                    sample(s, "celery_queue_length", queue_name="reports") == 4
                    and sum(v for _, v in s.samples("celery_task_sent_total", queue_name="reports"))
                    == 4
                )
            )
            assert redis_server.client().llen("tenant1:reports\x06\x166") == 4
            sent = {
                labels["name"]: value
                for labels, value in scrape.samples("celery_task_sent_total", queue_name="reports")
            }
            assert sent == {"report.a": 1, "report.b": 1, "<other>": 2}

            # an event about a task never seen (no name): counted, logged, skipped
            with producer.events.default_dispatcher() as dispatcher:
                dispatcher.send("task-started", uuid="never-seen")
            scrape = exporter.wait_for(
                lambda s: sample(s, "painel_exporter_celery_events_skipped_total") == 1
            )
            assert "skipped a malformed celery event" in exporter.log()
            assert scrape.value("painel_exporter_collector_success", collector="celery") == 1

            # a worker name longer than a label may be: cut, and still that worker's
            long_name = "worker@" + "pod-" * 60
            with producer.events.default_dispatcher(hostname=long_name) as dispatcher:
                dispatcher.send("worker-heartbeat", freq=60.0, active=2, processed=0)
            scrape = exporter.wait_for(
                lambda s: sample(s, "celery_worker_up", hostname=long_name[:128]) == 1
            )
            assert sample(scrape, "celery_worker_tasks_active", hostname=long_name[:128]) == 2
    finally:
        producer.close()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--broker-url", "http://host:6379"], "not a broker URL Celery knows"),
        (["--broker-url", "redis://h/0", "--celery-priority-steps", "3,x"], "0 to 255"),
        (["--broker-url", "redis://h/0", "--celery-priority-steps", "3,6"], "include 0"),
        (["--broker-url", "redis://h/0", "--celery-max-task-names", "0"], "positive"),
        (["--broker-url", "redis://h/0", "--celery-no-events-after", "-1"], "seconds"),
    ],
)
def test_bad_flags_are_refused_with_what_to_fix(flags, message):
    with pytest.raises(ConfigError, match=message):
        load(["--collectors", "celery", *flags], environ={})


def test_broker_password_stays_out_of_errors_status_and_page(tmp_path):
    url = "redis://:s3cret-pw@127.0.0.1:1/0"  # nothing listens on port 1
    with pytest.raises(ConfigError) as refused:
        load(["--collectors", "celery", "--broker-url", url.replace("redis", "http")], {})
    assert "s3cret-pw" not in str(refused.value)
    flags = ["--collectors", "celery", "--broker-url", url, "--celery-no-events-after", "1"]
    with ExporterProcess(tmp_path, flags) as exporter:
        exporter.wait_for(lambda s: sample(s, "painel_exporter_celery_broker_up") == 0)
        # a broker that cannot be reached sends no events either: said in a metric and on /
        exporter.wait_for(lambda s: sample(s, "painel_exporter_celery_no_events") == 1)
        page = exporter.get("/").body
        assert "ConnectionError" in page and "NO EVENTS" in page
        wait_until(lambda: "no celery events from" in exporter.log(), 10)
        assert "s3cret-pw" not in page + exporter.scrape().text + exporter.log()
        assert "redis://:***@127.0.0.1:1/0" in page


def test_a_message_on_the_events_channel_that_is_no_event_is_skipped(redis_server, tmp_path):
    flags = ["--collectors", "celery", "--broker-url", redis_server.url]
    producer = make_app(redis_server.url)
    try:
        with ExporterProcess(tmp_path, flags) as exporter:
            wait_for_receiver(exporter, producer)
            # what kombu publishes events to on Redis db 0, but not a kombu message
            redis_server.client().publish("/0.celeryev/task.started", b"\x00not json")
            exporter.wait_for(
                lambda s: sample(s, "painel_exporter_celery_events_skipped_total") == 1
            )
            assert "skipped a celery events message that does not decode" in exporter.log()
            producer.send_task("painel.later", queue="celery")  # and events still count
            exporter.wait_for(lambda s: sample(s, "celery_task_sent_total", "painel.later") == 1)
    finally:
        producer.close()
