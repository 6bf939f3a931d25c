"""Fold a dead worker's files into one merged file per type, so scrapes stop re-reading them.

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
import secrets
from collections import defaultdict

import psutil

from . import multiprocess_files as files
from .multiprocess_lock import directory_lock
from .multiprocess_rules import combine, is_live, rule_for
from .multiprocess_stats import count_unreadable_file

logger = logging.getLogger("painel.multiprocess")

# gunicorn's master merges in its main loop: a scrape stuck holding the lock (a worker stopped
# by a debugger, say) must not stop it from reaping and spawning workers. Scrapes hold it for
# milliseconds.
LOCK_TIMEOUT = 5.0


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
    # The generation orders claims (the last dead worker's gauge wins in mode "all"); the
    # random part keeps names unique even if the lock file was reset.
    token = f"{generation:012d}-{secrets.token_hex(4)}"
    for name in os.listdir(path):
        parsed = files.split_db_name(name)
        if parsed is None or parsed[1] != str(pid):
            continue
        prefix = parsed[0]
        if is_live(prefix):
            os.unlink(os.path.join(path, name))
        elif rule_for(prefix) is not None:
            claimed = f"{name[: -len(files.DB_SUFFIX)]}.{token}{files.CLAIMED_SUFFIX}"
            os.rename(os.path.join(path, name), os.path.join(path, claimed))
    files.fsync_directory(path)


def claimed_files(path: str) -> dict[str, list[str]]:
    """Claimed file names by type prefix, for merges and for scrapes after a crashed merge."""
    by_prefix: dict[str, list[str]] = defaultdict(list)
    for name in os.listdir(path):
        parsed = files.split_claimed_name(name)
        if parsed is not None and rule_for(parsed[0]) is not None:
            by_prefix[parsed[0]].append(name)
    return by_prefix


def merge_claimed(path: str) -> None:
    """Finish every claimed file in `path`; the caller holds the exclusive lock."""
    for prefix, names in claimed_files(path).items():
        merged_path = os.path.join(path, files.merged_name(prefix))
        try:
            journal = files.read_journal(merged_path)
        except ValueError as exc:
            _set_aside_merged(path, prefix, exc)
            journal = frozenset()  # every claimed file is pending: a new merged file follows
        done = [n for n in names if n in journal]
        _remove(path, done)
        pending = sorted((n for n in names if n not in journal), key=_claim_token)
        if not pending:
            continue
        rule = rule_for(prefix)
        # In file order, new keys after: the new merged file holds the old one's entries in
        # the same places, which lets scrapes keep their layout of it (multiprocess_reader).
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
                entries[key] = value if old is None else combine(rule, old, value)
            merged.append(name)
        files.write_atomically(merged_path, files.encode(entries, merged))
        _remove(path, merged)


def _claim_token(name: str) -> str:
    return name[: -len(files.CLAIMED_SUFFIX)].rpartition(".")[2]


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
    os.rename(os.path.join(path, name), os.path.join(path, name + ".unreadable"))
