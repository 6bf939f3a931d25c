"""Our multiprocess collector as scrapes use it: growing files, reused pids, bad files,
other collectors and formats in the same registry."""

from __future__ import annotations

import logging

from prometheus_client import REGISTRY, CollectorRegistry, Gauge
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om

from django_middleware import multiprocess_files as files
from django_middleware.multiprocess import (
    MultiProcessCollector,
    choose_encoder,
    generate_latest,
    mark_process_dead,
)

from .multiprocess_helpers import (
    STATE_DEPENDENT,
    LiveWorker,
    app_samples,
    expected,
    parse,
    run_dead_workers,
    scrape_ours,
    scrape_ours_text,
    scrape_stock,
    scrape_stock_text,
    without,
)


def late(samples: dict) -> dict[str, float]:
    return {
        dict(labels)["tenant"]: value
        for (name, labels), value in samples.items()
        if name == "app_late_total"
    }


def unreadable(stage: str) -> float:
    """This process's count of skipped files (the test process runs without multiprocess)."""
    return (
        REGISTRY.get_sample_value("painel_multiprocess_unreadable_files_total", {"stage": stage})
        or 0.0
    )


def test_new_series_and_new_counts_in_live_files_show_at_the_next_scrape(tmp_path):
    first, second = LiveWorker(tmp_path, 0), LiveWorker(tmp_path, 1)
    try:
        assert scrape_ours(tmp_path) == expected({str(first.pid): 0, str(second.pid): 1}, [])
        first.count_late_request("early")
        assert late(scrape_ours(tmp_path)) == {"early": 1}
        for tenant in ["early", "early", *(f"t{n}" for n in range(300))]:
            second.count_late_request(tenant)
        ours = scrape_ours(tmp_path)
        assert late(ours) == {"early": 3, **{f"t{n}": 1 for n in range(300)}}
        assert ours == scrape_stock(tmp_path)
    finally:
        first.exit()
        second.exit()


def test_a_pid_used_again_after_a_merge_is_read_afresh(tmp_path):
    (dead,) = run_dead_workers(tmp_path, first=0, count=1)
    live = LiveWorker(tmp_path, 1)
    try:
        scrape_ours(tmp_path)  # caches the layout of the dead worker's files
        mark_process_dead(dead, str(tmp_path))
        # A new process gets the dead worker's pid, so its files have the same names.
        again = LiveWorker(tmp_path, 2, as_pid=dead)
        try:
            again.count_late_request("reused")
            want = expected({str(live.pid): 1, str(dead): 2}, merged=[0])
            ours = scrape_ours(tmp_path)
            assert late(ours) == {"reused": 1}
            assert {k: v for k, v in ours.items() if k[0] != "app_late_total"} == want
            assert ours == scrape_stock(tmp_path)
        finally:
            again.exit()
    finally:
        live.exit()


def test_an_unreadable_file_is_skipped_logged_and_counted(tmp_path, caplog):
    (dead,) = run_dead_workers(tmp_path, first=0, count=1)
    garbage_pid = dead + 100_000  # no such process: pids stop well below this on Linux
    (tmp_path / f"counter_{garbage_pid}.db").write_bytes(b"\xff\x00\x00\x7f" + b"\x01" * 60)
    # Well formed, but its key is not prometheus_client's [metric, sample, labels, help].
    not_a_key = files.encode({b'{"metric": 1}': (5.0, 0.0)}, journal=[])
    (tmp_path / f"histogram_{garbage_pid}.db").write_bytes(not_a_key)
    skipped, set_aside = unreadable("scrape"), unreadable("merge")
    with caplog.at_level(logging.ERROR, logger="painel.multiprocess"):
        ours = scrape_ours(tmp_path)
    assert ours == expected({str(dead): 0}, merged=[])
    assert f"counter_{garbage_pid}.db" in caplog.text
    assert f"histogram_{garbage_pid}.db" in caplog.text
    assert unreadable("scrape") == skipped + 2

    # A merge sets such a file aside for good instead of failing every time.
    mark_process_dead(garbage_pid, str(tmp_path))
    mark_process_dead(dead, str(tmp_path))
    assert scrape_ours(tmp_path) == expected({}, merged=[0])
    assert sorted(p.name.split(".")[0] for p in tmp_path.glob("*.unreadable")) == [
        f"counter_{garbage_pid}",
        f"histogram_{garbage_pid}",
    ]
    assert unreadable("merge") == set_aside + 2


def test_other_collectors_and_openmetrics_keep_working(tmp_path):
    (dead,) = run_dead_workers(tmp_path, first=0, count=1)
    mark_process_dead(dead, str(tmp_path))
    registry = CollectorRegistry()
    MultiProcessCollector(registry, str(tmp_path))
    Gauge("master_up", "Set in this process, next to the workers' files.", registry=registry).set(1)

    encoder, content_type = choose_encoder(None)
    assert encoder is generate_latest and content_type.startswith("text/plain")
    text = encoder(registry).decode()
    assert parse(text)[("master_up", frozenset())] == 1
    assert app_samples(parse(text)) == expected({}, merged=[0])

    encoder, content_type = choose_encoder("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    families = {f.name: f for f in parse_om(encoder(registry).decode())}
    assert families["master_up"].samples[0].value == 1
    assert families["app_requests"].type == "counter"
    assert {s.labels["tenant"]: s.value for s in families["app_requests"].samples} == {
        dict(k[1])["tenant"]: v
        for k, v in expected({}, merged=[0]).items()
        if k[0] == "app_requests_total"
    }
    # Our text is the same text prometheus_client makes of it, line for line.
    assert sorted(scrape_ours_text(tmp_path).splitlines()) == sorted(
        scrape_stock_text(tmp_path).splitlines()
    )


def test_a_merge_that_fails_keeps_every_count_and_the_next_one_finishes(tmp_path, caplog):
    first, second = run_dead_workers(tmp_path, first=0, count=2)
    # Something in the way of the merged file's temporary name: writing it fails.
    (tmp_path / "counter_merged.db.tmp").mkdir()
    with caplog.at_level(logging.ERROR, logger="painel.multiprocess"):
        mark_process_dead(first, str(tmp_path))  # must not raise: gunicorn's master would die
    assert f"merging the files of process {first} failed" in caplog.text
    # Some types merged, counters not: per-process and live gauges depend on which.
    assert without(scrape_ours(tmp_path), STATE_DEPENDENT) == without(
        expected({str(second): 1}, merged=[0]), STATE_DEPENDENT
    )
    (tmp_path / "counter_merged.db.tmp").rmdir()
    mark_process_dead(second, str(tmp_path))
    assert scrape_ours(tmp_path) == expected({}, merged=[0, 1])
    assert scrape_stock(tmp_path) == expected({}, merged=[0, 1])
    assert not list(tmp_path.glob("*.merging"))
