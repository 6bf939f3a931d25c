"""The lock file's record of which pids merges claimed: what scrapes trust it for, and when not."""

from __future__ import annotations

from django_middleware.multiprocess import lock as lock_module
from django_middleware.multiprocess.lock import LOCK_NAME, directory_lock


def test_the_record_names_the_pids_claimed_since_a_generation(tmp_path, monkeypatch):
    with directory_lock(str(tmp_path), exclusive=True) as lock:
        assert [lock.bump_generation(pid) for pid in (11, 12, 13)] == [1, 2, 3]
        assert lock.claimed_since(0) == {"11", "12", "13"}
        assert lock.claimed_since(2) == {"13"}
        assert lock.claimed_since(3) == set()
        assert lock.claimed_since(7) is None  # a reader from before the lock file was made anew

        monkeypatch.setattr(lock_module, "_CLAIMS_KEPT", 2)
        lock.bump_generation(14)
        assert lock.claimed_since(2) == {"13", "14"}
        assert lock.claimed_since(1) is None  # generation 2's claim is no longer listed

    # A merge killed between writing a shorter record and cutting the file leaves a piece of
    # the old one at the end.
    path = tmp_path / LOCK_NAME
    path.write_bytes(path.read_bytes() + b"2 12\n")
    with directory_lock(str(tmp_path), exclusive=False) as lock:
        assert lock.generation == 4
        assert lock.claimed_since(3) is None
