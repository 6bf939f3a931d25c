"""Fold a dead worker's files into one merged file per type, so scrapes stop re-reading them.

`mark_process_dead` (gunicorn's child_exit) merges, then reads the directory once, so the next
worker, forked from the master, starts with warm caches.

The steps, all under the directory's exclusive lock (a scrape sees the state before or after):

1. Claim: bump the generation and record the pid in the lock file (scrapes learn there which
   file names may now hold a new file), then rename each of the dead pid's files
   `counter_<pid>.db` to `counter_<pid>.<generation>-<random>.merging`. From here a new
   process that reuses the pid writes a new file and can never add to the one being merged.
   Live gauges are simply removed.
2. Per type, for the claimed files: remove those the merged file's journal already lists (a
   merge that crashed after writing the merged file), then write a new merged file holding the
   others, with their names as its journal (temp file, fsync, atomic rename), then remove them.

A crash anywhere leaves claimed files that are either listed in the journal (already counted:
removed by the next merge and skipped by scrapes) or not (not yet counted: merged by the next
merge and read as live by scrapes meanwhile). So nothing is counted twice or dropped.
"""

from __future__ import annotations

import logging
import os

import psutil

from . import files
from .combine import fold, is_live, rule_for
from .lock import directory_lock
from .reader import reader_for
from .stats import count_unreadable_file

logger = logging.getLogger("painel.multiprocess")

# gunicorn's master merges in its main loop: a scrape stuck holding the lock (a worker stopped
# by a debugger, say) must not stop it from reaping and spawning workers. Scrapes hold it for
# milliseconds.
LOCK_TIMEOUT = 5.0


def mark_process_dead(pid: int, path: str | None = None) -> None:
    """Merge a dead process's files (call it once the process has exited: child_exit).

    Then read the directory once here: gunicorn forks the next worker from this process (the
    master), so the worker starts with warm caches and its first scrape is fast too.
    Never raises: an exception in gunicorn's child_exit makes the master exit.
    """
    try:
        directory = files.directory(path)
    except ValueError as exc:  # removed under a running server, say by a /tmp cleaner
        logger.error("not merging the files of process %s: %s", pid, exc)
        return
    merge_dead_process(pid, directory)
    reader_for(directory).warm_up()


def merge_dead_process(pid: int, path: str) -> None:
    """Merge the files of `pid`, which must have exited (gunicorn's child_exit)."""
    try:
        if psutil.pid_exists(pid):
            # Merging a file a process still writes through its mmap would lose its later writes.
            logger.warning("not merging the files of process %s: it is still running", pid)
            return
        with directory_lock(path, exclusive=True, timeout=LOCK_TIMEOUT) as lock:
            generation = lock.bump_generation(pid)
            _claim(pid, path, generation)
            merge_claimed(path)
    except TimeoutError as exc:
        logger.error(
            "not merging the files of process %s: %s by a scrape that does not finish; its "
            "files are read as a live worker's from now on",
            pid,
            exc,
        )
    except Exception:
        # gunicorn's master dies on an exception in child_exit (a full disk, say). Stopping
        # here is the same as a merge killed at this point: nothing is lost, scrapes read the
        # claimed files, and the next merge finishes the work.
        logger.exception("merging the files of process %s failed; the next merge retries", pid)


def _claim(pid: int, path: str, generation: int) -> None:
    token = files.new_claim_token(generation)
    for name in os.listdir(path):
        parsed = files.split_db_name(name)
        if parsed is None or parsed[1] != str(pid):
            continue
        prefix = parsed[0]
        if is_live(prefix):
            os.unlink(os.path.join(path, name))
        elif rule_for(prefix) is not None:
            claimed = files.claimed_name(name, token)
            os.rename(os.path.join(path, name), os.path.join(path, claimed))
    files.fsync_directory(path)


def merge_claimed(path: str) -> None:
    """Finish every claimed file in `path`; the caller holds the exclusive lock."""
    for prefix, names in files.claimed_files(path).items():
        merged_path = os.path.join(path, files.merged_name(prefix))
        try:
            journal = files.read_journal(merged_path)
        except ValueError as exc:
            _set_aside_merged(path, prefix, exc)
            journal = frozenset()  # every claimed file is pending: a new merged file follows
        done = [n for n in names if n in journal]
        _remove(path, done)
        pending = sorted((n for n in names if n not in journal), key=files.claim_token)
        if not pending:
            continue
        rule = rule_for(prefix)
        # In file order, new keys after: the new merged file holds the old one's entries in
        # the same places, which lets scrapes keep their layout of it (layouts.py).
        try:
            entries = files.read_entries(merged_path) if os.path.exists(merged_path) else {}
        except files.CorruptFile as exc:
            _set_aside_merged(path, prefix, exc)
            entries = {}
        merged = []
        for name in pending:
            try:
                dead = files.read_entries(os.path.join(path, name))
                for key in dead.keys() - entries.keys():
                    files.decode_key(key)  # a bad key would spoil the merged file for good
            except files.CorruptFile as exc:
                _set_aside(path, name, exc)
                continue
            for key, value in dead.items():
                old = entries.get(key)
                entries[key] = value if old is None else fold(rule, old, value)
            merged.append(name)
        files.write_atomically(merged_path, files.encode(entries, merged))
        _remove(path, merged)


def _remove(path: str, names: list[str]) -> None:
    for name in names:
        os.unlink(os.path.join(path, name))
    if names:
        files.fsync_directory(path)


def _set_aside_merged(path: str, prefix: str, exc: Exception) -> None:
    # Its totals are lost already (scrapes skip it); kept, every later merge would fail on it
    # and dead workers' files would pile up, each read at every scrape. The caller writes a
    # new merged file next, whose rename fsyncs the directory.
    _set_aside(path, files.merged_name(prefix), exc)


def _set_aside(path: str, name: str, exc: Exception) -> None:
    # Kept for a human to look at, under a name no reader picks up; never retried.
    logger.error("set aside unreadable multiprocess file %s: %s", name, exc)
    count_unreadable_file("merge")
    os.rename(os.path.join(path, name), os.path.join(path, name + files.UNREADABLE_SUFFIX))
