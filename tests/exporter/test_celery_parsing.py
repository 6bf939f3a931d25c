"""Unit tests of the celery collector's small parsers: label values and Redis key names."""

from __future__ import annotations

from exporter.collectors.celery.queues import queue_keys
from exporter.collectors.celery.tracker import _exception_name, _hostname_label


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
