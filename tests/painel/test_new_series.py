"""The new-series hold: which series read 0, and the file every gunicorn worker shares."""

from __future__ import annotations

import os
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from painel.new_series import (
    FILE_NAME,
    FileStore,
    HeldRegistry,
    NewSeriesHold,
    series_key,
)

KEY = series_key("orders", {"tenant": "acme"})


def test_a_series_is_held_from_its_first_exposure_for_hold_seconds():
    hold = NewSeriesHold(10.0)
    assert hold.held(KEY, now=100.0)
    assert hold.held(KEY, now=109.9)
    assert not hold.held(KEY, now=110.0)
    assert hold.held(series_key("orders", {"tenant": "other"}), now=110.0)  # its own clock


def test_a_hold_of_zero_holds_nothing():
    registry = CollectorRegistry()
    Counter("orders", "Orders.", registry=registry).inc(3)
    text = generate_latest(HeldRegistry(registry, NewSeriesHold(0.0))).decode()
    assert "orders_total 3.0" in text


def test_new_counter_and_histogram_series_read_zero_gauges_and_created_do_not():
    registry = CollectorRegistry()
    counter = Counter("orders", "Orders.", ["tenant"], registry=registry)
    histogram = Histogram("took", "Took.", buckets=[1.0], registry=registry)
    Gauge("queued", "Queued.", registry=registry).set(4)
    counter.labels("acme").inc(2)
    histogram.observe(0.5)
    hold = NewSeriesHold(60.0)
    first = generate_latest(HeldRegistry(registry, hold)).decode()
    assert 'orders_total{tenant="acme"} 0.0' in first
    assert 'took_bucket{le="1.0"} 0.0' in first
    assert "took_count 0.0" in first and "took_sum 0.0" in first
    assert "queued 4.0" in first
    assert 'orders_created{tenant="acme"} 0.0' not in first  # the real creation time
    counter.labels("zen").inc()
    hold.hold = 0.01  # what a later scrape sees once the hold is over
    time.sleep(0.02)
    later = generate_latest(HeldRegistry(registry, hold)).decode()
    assert 'orders_total{tenant="acme"} 2.0' in later
    assert "took_count 1.0" in later


def test_workers_share_first_exposed_times_through_the_file(tmp_path):
    one, two = FileStore(str(tmp_path)), FileStore(str(tmp_path))
    assert one.first_exposed(KEY, 100.0) == 100.0
    # Another worker answers a later scrape: the series was exposed at 100 already.
    assert two.first_exposed(KEY, 130.0) == 100.0
    assert FileStore(str(tmp_path)).first_exposed(KEY, 500.0) == 100.0  # a recycled worker


def test_duplicate_keys_keep_the_earliest_time(tmp_path):
    one, two = FileStore(str(tmp_path)), FileStore(str(tmp_path))
    # Both exposed the series before either read the other's line.
    one.first_exposed(series_key("other", {}), 1.0)
    two.first_exposed(series_key("another", {}), 1.0)
    one._append(KEY, 120.0)
    two._append(KEY, 110.0)
    assert FileStore(str(tmp_path)).first_exposed(KEY, 200.0) == 110.0
    assert one.first_exposed(KEY, 200.0) == 110.0


def test_a_line_being_written_is_read_when_complete(tmp_path):
    store = FileStore(str(tmp_path))
    path = tmp_path / FILE_NAME
    path.write_bytes(b'[["orders",[["tenant","acme"]]],100.0]\n[["half"')
    assert store.first_exposed(KEY, 150.0) == 100.0
    with open(path, "ab") as f:
        f.write(b",[]],90.0]\n")
    assert store.first_exposed(series_key("half", {}), 150.0) == 90.0


def test_an_unwritable_directory_falls_back_to_memory(tmp_path, caplog):
    store = FileStore(str(tmp_path / "missing"))
    assert store.first_exposed(KEY, 100.0) == 100.0
    assert store.first_exposed(KEY, 150.0) == 100.0
    assert store.first_exposed(series_key("b", {}), 150.0) == 150.0
    warnings = [r for r in caplog.records if "memory only" in r.getMessage()]
    assert len(warnings) == 1


def test_a_read_only_file_falls_back_to_memory(tmp_path):
    (tmp_path / FILE_NAME).write_text("")
    os.chmod(tmp_path / FILE_NAME, 0o444)
    store = FileStore(str(tmp_path))
    if os.access(tmp_path / FILE_NAME, os.W_OK):  # root writes anyway: take the directory away
        os.chmod(tmp_path / FILE_NAME, 0o644)
        os.unlink(tmp_path / FILE_NAME)
        os.mkdir(tmp_path / FILE_NAME)
    assert store.first_exposed(KEY, 100.0) == 100.0
    assert NewSeriesHold(60.0, store).held(KEY, 120.0)
