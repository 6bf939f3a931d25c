"""The tenant cap shared through the metrics directory: real processes admitting at once agree
on the same first N values; a directory that cannot take the file costs `<other>`, not an
exception, and is counted as dropped."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import subprocess

import pytest
from prometheus_client import REGISTRY

from django_middleware.multiprocess import dropped
from django_middleware.multiprocess.admitted import FILE_NAME, SharedCappedValues
from django_middleware.multiprocess.files import remove_stale_files
from painel.capped import OTHER

LIMIT = 20
VALUES = [f"tenant-{i}" for i in range(150)]
PROCESSES = 6


def _admit_all(directory: str, seed: int, start, results) -> None:
    cap = SharedCappedValues(LIMIT, 64, directory)
    order = VALUES[:]
    random.Random(seed).shuffle(order)
    start.wait()
    labels = {value: cap(value) for value in order}
    results.put((labels, sorted(cap.known)))


def test_processes_admitting_at_once_agree_on_the_first_n_values_of_the_file(tmp_path):
    context = multiprocessing.get_context("fork")
    start = context.Barrier(PROCESSES)
    results = context.Queue()
    processes = [
        context.Process(target=_admit_all, args=(str(tmp_path), seed, start, results))
        for seed in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(30)
        assert process.exitcode == 0

    lines = [json.loads(line) for line in (tmp_path / FILE_NAME).read_text().splitlines()]
    first_n = list(dict.fromkeys(lines))[:LIMIT]
    assert len(first_n) == LIMIT
    for labels, known in outcomes:
        assert known == sorted(first_n)  # every process the same set, exactly N values
        assert {label for label in labels.values()} == {*first_n, OTHER}
        assert all(labels[value] == (value if value in first_n else OTHER) for value in VALUES)
    # Appends stop once N are admitted: a process appends at most once after the N-th
    # distinct line (it was reading the file when that line went in), then reads it full.
    seen: set[str] = set()
    nth = next(i for i, value in enumerate(lines) if not seen.add(value) and len(seen) == LIMIT)
    assert len(lines) - (nth + 1) <= PROCESSES


def test_a_process_started_later_reads_the_set_and_appends_nothing(tmp_path):
    first = SharedCappedValues(3, 64, str(tmp_path))
    assert [first(v) for v in ("a", "b", "c", "d")] == ["a", "b", "c", OTHER]
    size = (tmp_path / FILE_NAME).stat().st_size

    recycled = SharedCappedValues(3, 64, str(tmp_path))  # a worker forked after a recycle
    assert [recycled(v) for v in ("e", "c", "a", "b", "d")] == [OTHER, "c", "a", "b", OTHER]
    assert (tmp_path / FILE_NAME).stat().st_size == size


def test_values_are_cut_before_they_are_admitted(tmp_path):
    cap = SharedCappedValues(1, 3, str(tmp_path))
    assert cap("tenant-1") == "ten"
    assert cap("tenant-2") == "ten"
    assert cap("other") == OTHER


def test_gunicorns_start_removes_the_file_so_a_restart_admits_afresh(tmp_path):
    SharedCappedValues(2, 64, str(tmp_path))("a")
    remove_stale_files(str(tmp_path))
    assert not (tmp_path / FILE_NAME).exists()
    assert SharedCappedValues(1, 64, str(tmp_path))("b") == "b"


def _dropped(reason: str) -> float:
    dropped.flush()
    return REGISTRY.get_sample_value("painel_metrics_dropped_total", {"reason": reason}) or 0.0


def test_a_missing_directory_gives_other_and_counts_a_drop(tmp_path):
    cap = SharedCappedValues(5, 64, str(tmp_path / "removed"))
    before = _dropped("no_directory")
    assert cap("acme") == OTHER
    assert cap("acme") == OTHER  # not retried within the second: counted again, no I/O
    assert _dropped("no_directory") == before + 2
    assert cap.known == set()


@pytest.fixture
def full_tmpfs(tmp_path):
    path = tmp_path / "full"
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield path
    subprocess.run(["umount", "-l", str(path)], check=False)


def test_a_full_disk_gives_other_and_counts_a_drop_then_admits_once_there_is_room(
    full_tmpfs, monkeypatch
):
    filler = full_tmpfs / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"x" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    cap = SharedCappedValues(5, 64, str(full_tmpfs))
    before = _dropped("no_space")
    assert cap("acme") == OTHER
    assert _dropped("no_space") == before + 1

    filler.unlink()
    monkeypatch.setattr(cap, "_retry_at", 0.0)  # the retry a second later, without the wait
    assert cap("acme") == "acme"
    assert json.loads((full_tmpfs / FILE_NAME).read_text()) == "acme"
