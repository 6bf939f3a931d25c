"""Our multiprocess collector as scrapes use it: growing files, reused pids, bad files,
other collectors and formats in the same registry."""

from __future__ import annotations

import logging
import os
import subprocess

import pytest
from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.exposition import choose_encoder as stock_choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector as StockCollector

from django_middleware.multiprocess import (
    MultiProcessCollector,
    choose_encoder,
    files,
    generate_latest,
    generate_latest_openmetrics,
    mark_process_dead,
)
from local_services.paths import REPO_ROOT

from .helpers import (
    DAMAGED_FILE,
    NO_SUCH_PID,
    STATE_DEPENDENT,
    WORKER,
    LiveWorker,
    expected,
    run_dead_workers,
    scrape_ours,
    scrape_stock,
    unreadable,
    without,
)


def late(samples: dict) -> dict[str, float]:
    return {
        dict(labels)["tenant"]: value
        for (name, labels), value in samples.items()
        if name == "app_late_total"
    }


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


# 1000: this process knows which pids the merges since its last scrape claimed; 1: the
# record keeps one merge only, so after two it does not know and compares the keys.
@pytest.mark.parametrize("claims_kept", [1000, 1])
def test_a_pid_used_again_after_a_merge_is_read_afresh(tmp_path, claims_kept):
    directory, kept = tmp_path / "metrics", tmp_path / "kept"
    directory.mkdir()
    kept.mkdir()
    dead, other = run_dead_workers(directory, first=0, count=2)
    live = LiveWorker(directory, 2)
    try:
        scrape_ours(directory)  # caches the layout of the dead worker's files
        counter = directory / f"counter_{dead}.db"
        os.link(counter, kept / counter.name)  # its inode outlives the merge
        # Merged by another process, as gunicorn's master does.
        subprocess.run(
            [*WORKER, "merge", str(directory), str(dead), str(other)]
            + ["--claims-kept", str(claims_kept)],
            cwd=REPO_ROOT,
            check=True,
            timeout=60,
        )
        # A new process gets the dead worker's pid, so its files have the same names, and its
        # counter file the same inode (ext4 often gives a freed inode to the next new file:
        # made certain here by an empty file on the kept inode).
        os.link(kept / counter.name, counter)
        os.truncate(counter, 0)
        again = LiveWorker(directory, 3, as_pid=dead)
        try:
            again.count_late_request("reused")
            assert counter.stat().st_ino == (kept / counter.name).stat().st_ino
            want = expected({str(live.pid): 2, str(dead): 3}, merged=[0, 1])
            ours = scrape_ours(directory)
            assert late(ours) == {"first": 1, "reused": 1}
            assert {k: v for k, v in ours.items() if k[0] != "app_late_total"} == want
            assert ours == scrape_stock(directory)
        finally:
            again.exit()
    finally:
        live.exit()


def test_an_unreadable_file_is_skipped_logged_and_counted(tmp_path, caplog):
    (dead,) = run_dead_workers(tmp_path, first=0, count=1)
    garbage_pid = NO_SUCH_PID
    (tmp_path / f"counter_{garbage_pid}.db").write_bytes(DAMAGED_FILE)
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


# What Prometheus 2 and 3 ask for by default, then plain clients (curl) and the text 1.0.0.
ACCEPT_HEADERS = [
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
    "application/openmetrics-text;version=0.0.1;q=0.5,"
    "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
    None,
    "text/plain;version=1.0.0;escaping=allow-utf-8",
]


@pytest.mark.parametrize("accept", ACCEPT_HEADERS)
def test_every_format_is_what_prometheus_client_writes_line_for_line(tmp_path, accept):
    (dead,) = run_dead_workers(tmp_path, first=0, count=1)
    mark_process_dead(dead, str(tmp_path))
    live = LiveWorker(tmp_path, 1)
    try:
        ours, stock = CollectorRegistry(), CollectorRegistry()
        MultiProcessCollector(ours, str(tmp_path))
        StockCollector(stock, str(tmp_path))
        for registry in (ours, stock):  # another collector in the same registry
            Gauge("master_up", "Set in this process.", registry=registry).set(1)

        encoder, content_type = choose_encoder(accept)
        stock_encoder, stock_content_type = stock_choose_encoder(accept)
        assert content_type == stock_content_type
        assert encoder.func in (generate_latest, generate_latest_openmetrics)  # the fast path
        ours_text, stock_text = encoder(ours).decode(), stock_encoder(stock).decode()
        assert sorted(ours_text.splitlines()) == sorted(stock_text.splitlines())
        if "openmetrics" in content_type:
            assert ours_text.endswith("# EOF\n") and ours_text.count("# EOF") == 1
    finally:
        live.exit()


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


def test_a_merge_with_its_directory_gone_is_logged_not_raised(tmp_path, caplog):
    gone = tmp_path / "removed-by-a-tmp-cleaner"
    with caplog.at_level(logging.ERROR, logger="painel.multiprocess"):
        mark_process_dead(4_999_999, str(gone))  # must not raise: gunicorn's master would die
    assert "not merging the files of process 4999999" in caplog.text
    assert "PROMETHEUS_MULTIPROC_DIR must name an existing directory" in caplog.text
