"""Gunicorn settings for multiprocess metrics: `gunicorn -c python:django_middleware.gunicorn`.

Every worker writes its metrics to files in PROMETHEUS_MULTIPROC_DIR and /metrics merges them.
The directory has to exist before the first metric is made, must start empty (files left by
an earlier run would be added in again), and a worker's live gauges go when it exits.
To keep your own gunicorn config file, import these hooks into it:
`from django_middleware.gunicorn import on_starting, post_fork, child_exit`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from django_middleware.multiprocess import dropped, mark_process_dead, remove_stale_files

# Set in the master once on_starting found the directory; workers inherit it.
directory_checked = False


def multiproc_dir() -> Path:
    """The validated PROMETHEUS_MULTIPROC_DIR; exits with what to fix when it is wrong."""
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if value == "":
        sys.exit(
            "painel: PROMETHEUS_MULTIPROC_DIR is set but empty (prometheus_client would write "
            "into the current directory): set it to an existing directory, writable by the "
            "workers, before starting gunicorn (e.g. PROMETHEUS_MULTIPROC_DIR=/run/painel)"
        )
    if not value:
        sys.exit(
            "painel: set PROMETHEUS_MULTIPROC_DIR to an existing directory, writable by the "
            "workers, before starting gunicorn (e.g. PROMETHEUS_MULTIPROC_DIR=/run/painel)"
        )
    path = Path(value)
    if not path.is_dir():
        sys.exit(f"painel: PROMETHEUS_MULTIPROC_DIR={value!r} is not a directory: create it first")
    return path


def on_starting(server) -> None:
    global directory_checked
    path = multiproc_dir()
    directory_checked = True
    if getattr(server, "master_pid", 0):
        # A USR2 upgrade: this master was exec'd by a running one whose workers still write
        # here and whose child_exit merges them when they stop. Their files are live counts.
        server.log.info(
            "painel: multiprocess metrics in %s (kept: upgrade of a running master)", path
        )
        return
    remove_stale_files(str(path))
    server.log.info("painel: multiprocess metrics in %s (cleaned)", path)


def post_fork(server, worker) -> None:
    # While the new worker's files have room: its drop counts then never need to grow them.
    dropped.declare()


def child_exit(server, worker) -> None:
    mark_process_dead(worker.pid)
