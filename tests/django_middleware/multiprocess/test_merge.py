"""Merging dead workers' files: exact totals, scrapes during merges, merges killed half way.

Workers are real processes writing prometheus_client's files; the merge runs in another
process (as in gunicorn's master), or in a forked child that is SIGKILLed part way through.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import threading

from django_middleware.multiprocess import mark_process_dead
from django_middleware.multiprocess import merge as merge_module
from local_services.paths import REPO_ROOT

from .helpers import (
    NO_SUCH_PID,
    STATE_DEPENDENT,
    WORKER,
    LiveWorker,
    expected,
    families,
    parse,
    run_dead_workers,
    scrape_ours,
    scrape_ours_text,
    scrape_stock,
    unreadable,
    without,
)
from .worker import GAUGE_MODES

FILE_PREFIXES = ("counter", "histogram", "summary", *(f"gauge_{mode}" for mode in GAUGE_MODES))


def test_totals_are_exact_before_and_after_merging(tmp_path):
    dead = run_dead_workers(tmp_path, first=0, count=4)
    live = [LiveWorker(tmp_path, 4), LiveWorker(tmp_path, 5)]
    try:
        present = {**{str(pid): n for n, pid in enumerate(dead)}, **pids_of(live)}
        before = expected(present, merged=[])
        assert scrape_stock(tmp_path) == before
        assert scrape_ours(tmp_path) == before

        merger = subprocess.run(
            [*WORKER, "merge", str(tmp_path), *map(str, dead)], cwd=REPO_ROOT, timeout=60
        )
        assert merger.returncode == 0

        after = expected(pids_of(live), merged=[0, 1, 2, 3])
        assert scrape_ours(tmp_path) == after
        # prometheus_client itself reads the merged directory and agrees.
        assert scrape_stock(tmp_path) == after
        assert sorted(p.name for p in tmp_path.glob("*.db") if "merged" not in p.name) == sorted(
            f"{prefix}_{w.pid}.db" for w in live for prefix in FILE_PREFIXES
        )
        assert families(scrape_ours_text(tmp_path)) >= {
            ("app_requests", "counter", "Requests."),
            ("app_duration_seconds", "histogram", "Duration."),
            ("app_payload_bytes", "summary", "Payload sizes."),
            ("app_gauge_max", "gauge", "Gauge in mode max."),
        }
    finally:
        exited = [w.exit() for w in live]
    for pid in exited:
        mark_process_dead(pid, str(tmp_path))
    final = expected({}, merged=[0, 1, 2, 3, 4, 5])
    assert scrape_ours(tmp_path) == final
    assert scrape_stock(tmp_path) == final
    assert not [p for p in tmp_path.glob("*.db") if "merged" not in p.name]


def test_a_scrape_during_merges_sees_each_count_once(tmp_path):
    dead = run_dead_workers(tmp_path, first=0, count=6, series=2000)
    live = LiveWorker(tmp_path, 6)
    totals_seen: list[float] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def scrape_all_the_time():
        try:
            while not stop.is_set():
                totals_seen.append(requests_and_filler(scrape_ours_full(tmp_path)))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    scraper = threading.Thread(target=scrape_all_the_time)
    merger = subprocess.Popen(
        [*WORKER, "merge", str(tmp_path), *map(str, dead)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    scraper.start()
    try:
        between = []
        for line in merger.stdout:  # one line per merged worker: scrape in between as well
            assert line.startswith("merged ")
            between.append(requests_and_filler(scrape_ours_full(tmp_path)))
        assert merger.wait(timeout=60) == 0
    finally:
        stop.set()
        scraper.join(timeout=60)
        live.exit()
    assert not errors
    total = requests_and_filler(expected_full(range(7), filler_workers=6))
    assert between == [total] * 6
    assert totals_seen and set(totals_seen) == {total}


def test_a_merge_killed_at_any_step_loses_and_doubles_nothing(tmp_path):
    template = tmp_path / "template"
    template.mkdir()
    merged_earlier = run_dead_workers(template, first=0, count=2)
    for pid in merged_earlier:
        mark_process_dead(pid, str(template))
    # Renamed to pids no process can have: the copies are merged again and again for a while,
    # and a real pid could meanwhile belong to a new process, which merges refuse.
    to_merge = [NO_SUCH_PID + n for n in range(2)]
    for pid, fake in zip(run_dead_workers(template, first=2, count=2), to_merge, strict=True):
        for path in template.glob(f"*_{pid}.db"):
            path.rename(template / path.name.replace(f"_{pid}.db", f"_{fake}.db"))
    live = LiveWorker(template, 4)
    try:
        complete = expected(pids_of([live]), merged=[0, 1, 2, 3])
        before = expected(
            {**pids_of([live]), **{str(p): 2 + n for n, p in enumerate(to_merge)}}, [0, 1]
        )
        step = 0
        while True:
            step += 1
            directory = tmp_path / f"killed-at-{step}"
            shutil.copytree(template, directory)
            # Scraped before too: this process's cached layouts must follow the crash.
            assert scrape_ours(directory) == before
            status = merge_in_child(directory, to_merge, kill_at=step)
            assert without(scrape_ours(directory), STATE_DEPENDENT) == without(
                complete, STATE_DEPENDENT
            ), f"after a kill at step {step}"
            # The next merges finish what the killed one left, whatever it was.
            for pid in to_merge:
                mark_process_dead(pid, str(directory))
            assert scrape_ours(directory) == complete, f"recovered from step {step}"
            assert scrape_stock(directory) == complete, f"recovered from step {step}"
            assert not list(directory.glob("*.merging"))
            if status == 0:
                break
            assert status == -signal.SIGKILL
        # Every rename, replace, unlink, fsync and write of the claim record was a kill point.
        assert step > 20

        rng = random.Random(6)
        for attempt in range(6):
            directory = tmp_path / f"killed-randomly-{attempt}"
            shutil.copytree(template, directory)
            merge_in_child(directory, to_merge, kill_after=rng.uniform(0, 0.03))
            for pid in to_merge:
                mark_process_dead(pid, str(directory))
            assert scrape_ours(directory) == complete
            assert scrape_stock(directory) == complete
    finally:
        live.exit()


# A scrape that takes the directory's lock and then hangs (a worker stopped by a debugger).
STUCK_SCRAPE = """
import sys
from django_middleware.multiprocess.lock import directory_lock
with directory_lock(sys.argv[1], exclusive=False):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_a_scrape_stuck_holding_the_lock_does_not_stop_the_master(tmp_path, caplog, monkeypatch):
    first, second = run_dead_workers(tmp_path, first=0, count=2)
    monkeypatch.setattr(merge_module, "LOCK_TIMEOUT", 0.2)
    stuck = subprocess.Popen(
        [sys.executable, "-c", STUCK_SCRAPE, str(tmp_path)],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert stuck.stdout.readline() == "locked\n"
        merge = threading.Thread(target=mark_process_dead, args=(first, str(tmp_path)))
        with caplog.at_level(logging.ERROR, logger="painel.multiprocess"):
            merge.start()
            merge.join(timeout=60)
            returned = not merge.is_alive()
    finally:
        stuck.stdin.close()  # lets a merge that waits for ever go on, so the test ends
        stuck.wait(timeout=30)
        merge.join(timeout=60)
    assert returned  # gunicorn's master goes back to reaping and spawning workers
    assert f"not merging the files of process {first}" in caplog.text
    # Its files are read as a live worker's; the next merge works as usual.
    mark_process_dead(second, str(tmp_path))
    assert scrape_ours(tmp_path) == expected({str(first): 0}, merged=[1])
    assert scrape_stock(tmp_path) == expected({str(first): 0}, merged=[1])


def test_a_damaged_merged_file_is_set_aside_and_merges_go_on(tmp_path, caplog):
    for pid in run_dead_workers(tmp_path, first=0, count=2):
        mark_process_dead(pid, str(tmp_path))
    merged_files = sorted(p.name for p in tmp_path.glob("*_merged.db"))
    assert merged_files
    for name in merged_files:  # a `used` length past the end of the file, as a torn disk write
        with open(tmp_path / name, "r+b") as f:
            f.write(struct.pack("i", os.path.getsize(tmp_path / name) + 64))
    set_aside = unreadable("merge")

    later = run_dead_workers(tmp_path, first=2, count=2)
    with caplog.at_level(logging.ERROR, logger="painel.multiprocess"):
        for pid in later:
            mark_process_dead(pid, str(tmp_path))
    # The damaged totals were unreadable already; the later workers' are merged anew, and no
    # dead worker's file is left behind to be read at every scrape.
    assert scrape_ours(tmp_path) == expected({}, merged=[2, 3])
    assert scrape_stock(tmp_path) == expected({}, merged=[2, 3])
    assert sorted(p.name for p in tmp_path.glob("*.db")) == merged_files
    assert sorted(p.name for p in tmp_path.glob("*.unreadable")) == [
        f"{name}.unreadable" for name in merged_files
    ]
    assert unreadable("merge") == set_aside + len(merged_files)
    assert "counter_merged.db" in caplog.text


def pids_of(workers) -> dict[str, int]:
    return {str(w.pid): w.number for w in workers}


def scrape_ours_full(directory):
    return parse(scrape_ours_text(directory))


def requests_and_filler(samples) -> float:
    return sum(
        value
        for (name, _), value in samples.items()
        if name in ("app_requests_total", "app_filler_total")
    )


def expected_full(numbers, filler_workers: int) -> dict:
    samples = expected({str(n): n for n in numbers}, merged=[])
    samples[("app_filler_total", frozenset())] = 2000.0 * filler_workers
    return samples


def merge_in_child(directory, pids, kill_at=None, kill_after=None) -> int:
    """mark_process_dead in a forked child, SIGKILLed before its `kill_at`-th file step or
    after `kill_after` seconds; returns the child's wait status as a returncode."""
    child = os.fork()
    if child == 0:
        try:
            if kill_at is not None:
                _kill_at_step(kill_at)
            for pid in pids:
                mark_process_dead(pid, str(directory))
        finally:
            os._exit(0)
    if kill_after is not None:
        threading.Event().wait(kill_after)
        os.kill(child, signal.SIGKILL)
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status)


def _kill_at_step(kill_at: int) -> None:
    steps = {"count": 0}

    def counted(real):
        def step(*args, **kwargs):
            steps["count"] += 1
            if steps["count"] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)

        return step

    for name in ("rename", "replace", "unlink", "fsync", "pwrite", "ftruncate"):
        setattr(os, name, counted(getattr(os, name)))
