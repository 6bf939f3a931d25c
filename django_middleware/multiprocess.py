"""Multiprocess exposition under gunicorn: the collector that reads all workers' files and
the hook that handles a worker's exit.

For now both come straight from prometheus_client; the fast merging collector replaces them
here without changing the callers (views and the gunicorn hooks import from this module).
"""

from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

__all__ = ["MultiProcessCollector", "mark_process_dead"]
