"""A real `celery worker` process with task events on, against a given Redis broker."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from .celery_app import BROKER_ENV, KEY_PREFIX_ENV, make_app
from .paths import REPO_ROOT
from .process import ManagedProcess


class CeleryWorker:
    """`celery -A local_services.celery_app worker` with events, short heartbeats, one child.

    `nodename` is the worker's full name (`name@host`), the `hostname` label the exporter
    publishes for it. `send()` publishes a task by name from the calling process.
    """

    def __init__(
        self,
        broker_url: str,
        log_dir: Path,
        name: str = "painel",
        queues: Sequence[str] = ("celery",),
        heartbeat_interval: int = 1,
        events: bool = True,
        key_prefix: str = "",
        pool: str = "prefork",
        concurrency: int = 1,
    ) -> None:
        self.broker_url = broker_url
        self.nodename = f"{name}@localhost"
        self.key_prefix = key_prefix
        argv = [
            sys.executable, "-m", "celery", "-A", "local_services.celery_app", "worker",
            "--hostname", self.nodename,
            "--queues", ",".join(queues),
            "--heartbeat-interval", str(heartbeat_interval),
            "--concurrency", str(concurrency),
            "--pool", pool,
            # mingle and gossip wait for peers at start-up: nothing to learn in a test.
            "--without-mingle", "--without-gossip",
            "--loglevel", "INFO",
        ]  # fmt: skip
        if events:
            argv.append("--task-events")
        env = {BROKER_ENV: broker_url, KEY_PREFIX_ENV: key_prefix, "PYTHONUNBUFFERED": "1"}
        self.process = ManagedProcess(f"celery-{name}", argv, log_dir, env=env, cwd=REPO_ROOT)
        self._app = None

    @property
    def app(self):
        """A producer app on the same broker (and key prefix) as the worker."""
        if self._app is None:
            self._app = make_app(self.broker_url, self.key_prefix)
        return self._app

    def start(self, timeout: float = 60.0) -> CeleryWorker:
        self.process.start(ready=lambda: self._wait_ready(timeout))
        return self

    def _wait_ready(self, timeout: float) -> None:
        # Celery logs "<nodename> ready." once its consumer listens to the queues.
        self.process.wait_for_output(f"{self.nodename} ready.", timeout)

    def send(self, task: str, *args, queue: str = "celery", **options):
        return self.app.send_task(task, args=args, queue=queue, **options)

    def stop(self) -> None:
        self.process.stop()
        if self._app is not None:
            self._app.close()

    def kill(self) -> None:
        """SIGKILL the worker and its pool children: no worker-offline event is sent."""
        self.process.kill()

    def tail(self, lines: int = 40) -> str:
        return self.process.tail(lines)
