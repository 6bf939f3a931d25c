"""Unit tests of the celery collector's small parts: label values, Redis key names, bounds."""

from __future__ import annotations

from exporter.collectors.celery.queues import queue_keys
from exporter.collectors.celery.tracker import (
    MAX_VANISHED_WORKERS,
    EventTracker,
    _exception_name,
    _hostname_label,
)


def test_exception_type_is_read_from_the_event_repr():
    assert _exception_name("ValueError('boom')") == "ValueError"
    assert _exception_name("myapp.errors.Timeout(30)") == "myapp.errors.Timeout"
    assert _exception_name("") == "<unknown>"
    assert _exception_name(None) == "<unknown>"
    assert _exception_name("\x00garbage") == "<unknown>"


def test_producer_names_keep_only_the_host_and_workers_keep_their_name():
    assert _hostname_label("gen4242@web-1") == "web-1"
    assert _hostname_label("celery@web-1") == "celery@web-1"
    assert len(_hostname_label("w@" + "x" * 500)) == 128


def test_queue_keys_follow_kombu_priority_steps_and_prefix():
    assert queue_keys("q") == ["q", "q\x06\x163", "q\x06\x166", "q\x06\x169"]
    assert queue_keys("q", [0, 5], key_prefix="t1:") == ["t1:q", "t1:q\x06\x165"]


def test_vanished_workers_are_kept_down_up_to_the_cap_the_longest_silent_dropped_first():
    now = [1000.0]
    tracker = EventTracker(forget_after=60, clock=lambda: now[0])
    for n in range(MAX_VANISHED_WORKERS + 2):
        now[0] += 1
        heartbeat = {"type": "worker-heartbeat", "hostname": f"w{n}@pod", "freq": 2.0}
        tracker.handle({**heartbeat, "timestamp": now[0], "local_received": now[0]})
    now[0] += 3600  # every heartbeat long expired, none of them offline: all vanished
    up = {s.labels["hostname"]: s.value for s in _family(tracker, "celery_worker_up").samples}
    assert len(up) == MAX_VANISHED_WORKERS and set(up.values()) == {0.0}
    assert "w0@pod" not in up and "w1@pod" not in up and "w2@pod" in up


def _family(tracker: EventTracker, name: str):
    (family,) = [f for f in tracker.collect() if f.name == name]
    return family


def test_a_forgotten_worker_that_comes_back_counts_from_zero_again():
    now = [1000.0]
    tracker = EventTracker(forget_after=60, clock=lambda: now[0])

    def run_task(uuid: str) -> None:
        for kind in ("task-received", "task-started", "task-succeeded"):
            fields = {"name": "t"} if kind == "task-received" else {"runtime": 0.1}
            tracker.handle(
                {"type": kind, "uuid": uuid, "hostname": "w@pod", "timestamp": now[0],
                 "local_received": now[0], **fields}
            )  # fmt: skip

    run_task("a")
    run_task("b")
    assert _succeeded(tracker) == {"w@pod": 2.0}
    tracker.handle(
        {"type": "worker-offline", "hostname": "w@pod", "timestamp": now[0],
         "local_received": now[0]}
    )  # fmt: skip
    now[0] += 61
    assert _succeeded(tracker) == {}  # retired and silent: forgotten with its series
    run_task("c")
    assert _succeeded(tracker) == {"w@pod": 1.0}


def test_events_in_a_redis_message_one_or_a_worker_buffered_list():
    import base64
    import json

    from exporter.collectors.celery.redis_events import events_of

    def message(body) -> bytes:
        encoded = base64.b64encode(json.dumps(body).encode()).decode()
        return json.dumps(
            {"body": encoded, "content-type": "application/json",
             "properties": {"body_encoding": "base64"}}
        ).encode()  # fmt: skip

    one = {"type": "task-started", "uuid": "u"}
    assert list(events_of(message(one))) == [one]
    assert list(events_of(message([one, one]))) == [one, one]
    for bad in (
        b"not json",
        b'{"no": "body"}',
        b'{"body": "x", "content-type": "application/x-pickle"}',
    ):
        try:
            list(events_of(bad))
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} was taken for events")


def _succeeded(tracker: EventTracker) -> dict[str, float]:
    family = _family(tracker, "celery_task_succeeded")
    return {s.labels["hostname"]: s.value for s in family.samples if s.name.endswith("_total")}
