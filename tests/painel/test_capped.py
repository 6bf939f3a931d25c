"""The one "first N distinct values, then <other>" helper behind tenant, task, queue and
exception labels."""

from __future__ import annotations

import threading

from painel.capped import CappedValues


def test_capped_values_read_other_after_the_limit():
    cap = CappedValues(2, max_length=128)
    assert [cap(v) for v in ("a", "b", "c", "a", "d")] == ["a", "b", "<other>", "a", "<other>"]
    assert sorted(cap.known) == ["a", "b"]


def test_values_are_cut_before_they_are_counted():
    cap = CappedValues(1, max_length=3)
    assert cap("tenant-1") == "ten"
    assert cap("tenant-2") == "ten"  # the same label once cut: no new value
    assert cap("other") == "<other>"


def test_threads_admitting_at_once_never_pass_the_limit():
    cap = CappedValues(50, max_length=128)
    start = threading.Barrier(8)
    labels: list[list[str]] = []

    def admit(thread: int) -> None:
        start.wait()
        labels.append([cap(f"t{thread}-{i}") for i in range(100)])

    threads = [threading.Thread(target=admit, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    admitted = {label for run in labels for label in run if label != "<other>"}
    assert len(cap.known) == 50 and admitted == cap.known
