"""A label cap shared by every process writing to one metrics directory.

`CappedValues` (painel/capped.py) admits the first N values it sees, per process. Under
gunicorn every worker, and every worker a `max_requests` recycle forks, then admits its own N,
and the merged files keep them all: the cap does not hold for the instance. Here the admitted
values live in an append-only file in the directory, one JSON string per line, and a value is
admitted when it is among the first N distinct lines in file order. Every process reads the
same file, so every process agrees, whichever appended first.

- One `write()` with O_APPEND is atomic against other appends, so lines never interleave;
  once a process's own line is written, every line before it is complete, so reading up to
  it decides its value without a lock (a line cut by a short write fails to parse and is
  skipped; its value is appended again at its next request).
- The hot path is unchanged: `value in capped.known` (a set look-up), then `admit` only for a
  value this process has not seen admitted. `admit` reads the file only while fewer than N
  values are admitted; after that every new value is `<other>` without any I/O.
- The file outlives recycled workers and is removed with the directory's other files when
  gunicorn's master starts (files.remove_stale_files), so a restart starts a new set.
- It never raises: when the file cannot be read or appended to (a full disk, a removed
  directory), the value counts as `<other>` for that request, the failure is noted in
  `painel_metrics_dropped_total{reason}`, and the file is tried again after a second.
"""

from __future__ import annotations

import errno
import json
import os
import threading
import time

from painel.capped import OTHER

from . import dropped

FILE_NAME = "painel_admitted_tenants.jsonl"
RETRY_SECONDS = 1.0


class SharedCappedValues:
    """`CappedValues`' interface (`known`, `admit`, calling it), admitted through a file."""

    def __init__(self, limit: int, max_length: int, directory: str) -> None:
        self.limit = limit
        self.max_length = max_length
        self.path = os.path.join(directory, FILE_NAME)
        # The admitted values read from the file so far: at most `limit`, in every process a
        # prefix of the same list.
        self.known: set[str] = set()
        self._offset = 0
        self._retry_at = 0.0
        self._reason = "other"
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        value = value[: self.max_length]
        return value if value in self.known else self.admit(value)

    def admit(self, value: str) -> str:
        """`value` (already cut) when it is one of the first `limit` values, else `<other>`."""
        if len(self.known) >= self.limit:  # the set is complete: no I/O, no lock
            return value if value in self.known else OTHER
        with self._lock:
            if value in self.known:
                return value
            if time.monotonic() < self._retry_at:
                dropped.note_drop(self._reason, self.path, value)  # failing as last seen
                return OTHER
            try:
                self._read_new_lines()
                if value not in self.known and len(self.known) < self.limit:
                    self._append(value)
                    self._read_new_lines()  # up to our own line at least: decides `value`
            except OSError as exc:
                self._retry_at = time.monotonic() + RETRY_SECONDS
                self._reason = dropped.reason_of(exc)
                dropped.note_drop(self._reason, self.path, exc)
                return OTHER
            dropped.note_recorded(self.path)
            return value if value in self.known else OTHER

    def _read_new_lines(self) -> None:
        try:
            with open(self.path, "rb") as f:
                if os.fstat(f.fileno()).st_size < self._offset:
                    self._offset = 0  # made anew (the directory emptied under us): read it all
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return
        complete = data.rfind(b"\n") + 1  # a line being appended right now: next time
        for line in data[:complete].splitlines():
            if len(self.known) >= self.limit:
                break
            try:
                value = json.loads(line)
            except ValueError:
                continue  # cut by a short write
            if isinstance(value, str):
                self.known.add(value)
        self._offset += complete

    def _append(self, value: str) -> None:
        line = (json.dumps(value) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if os.write(fd, line) != len(line):
                raise OSError(errno.ENOSPC, "short write to the admitted-tenants file")
        finally:
            os.close(fd)
