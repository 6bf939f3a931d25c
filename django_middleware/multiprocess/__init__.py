"""Multiprocess exposition under gunicorn, with prometheus_client's API and file format.

Nothing here imports Django. See docs/multiprocess.md for the design; the modules:

- files.py: the directory's files (names, format, journal), read in bulk and written whole
- lock.py: the directory's lock and its record of merges
- combine.py: how one key's values from several files combine, by type and gauge mode
- merge.py: `mark_process_dead`, folding a dead worker's files into one merged file per type
- layouts.py, render.py, reader.py: reading the directory with what does not change cached
- collector.py: `MultiProcessCollector` and the fast `generate_latest` / `choose_encoder`
- writer.py: the middleware's writes of a request straight into its worker's files
- stats.py: the one metric about the files themselves
- safe_mmap.py, dropped.py: app processes survive a full or missing directory, counting drops

Importing this package installs safe_mmap's file class (the middleware imports it, and so does
the gunicorn hooks module, before any metric file is opened in a worker).
"""

from .collector import (
    MultiProcessCollector,
    choose_encoder,
    generate_latest,
    generate_latest_openmetrics,
)
from .files import remove_stale_files
from .merge import mark_process_dead
from .safe_mmap import install as _install_safe_files

_install_safe_files()

__all__ = [
    "MultiProcessCollector",
    "choose_encoder",
    "generate_latest",
    "generate_latest_openmetrics",
    "mark_process_dead",
    "remove_stale_files",
]
