"""A real gunicorn serving a WSGI app with N workers in multiprocess-metrics mode."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
import psutil

from .paths import REPO_ROOT
from .ports import free_port
from .process import ManagedProcess
from .waiting import wait_until

PAINEL_CONFIG = "python:django_middleware.gunicorn"


class GunicornServer:
    """`GunicornServer(tmp_path, "project.wsgi:application", workers=3).start()`.

    PROMETHEUS_MULTIPROC_DIR is a fresh directory under `workdir` (see `multiproc_dir`);
    `env` adds to the environment (e.g. DJANGO_SETTINGS_MODULE), `args` to the command line
    (e.g. ["--max-requests", "50"]); `config` is the gunicorn -c value, None for none;
    `empty_multiproc_dir=False` keeps files already in the directory (to test start-up).
    `ready_path` is fetched to know a worker serves (an excluded path is not counted).
    The app is imported with the repository root as working directory and on sys.path.
    """

    def __init__(
        self,
        workdir: Path,
        app: str,
        workers: int = 2,
        env: dict[str, str] | None = None,
        args: Sequence[str] = (),
        config: str | None = PAINEL_CONFIG,
        multiprocess: bool = True,
        name: str = "gunicorn",
        empty_multiproc_dir: bool = True,
        port: int | None = None,
        ready_path: str = "/",
    ) -> None:
        self.workdir = Path(workdir)
        self.app = app
        self.workers = workers
        self.port = port or free_port()
        self.ready_path = ready_path
        self.multiproc_dir = self.workdir / "prometheus-multiproc" if multiprocess else None
        self.env = {"PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1", **(env or {})}
        if self.multiproc_dir is not None:
            self.env["PROMETHEUS_MULTIPROC_DIR"] = str(self.multiproc_dir)
        self.args = list(args)
        self.config = config
        self.name = name
        self.empty_multiproc_dir = empty_multiproc_dir
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=kwargs.pop("timeout", 30), **kwargs)

    def argv(self) -> list[str]:
        # The console script, as users run it: `python -m gunicorn` cannot re-exec on USR2
        # (the new master runs gunicorn/__main__.py, whose folder shadows the stdlib `http`).
        argv = [str(Path(sys.executable).with_name("gunicorn"))]
        if self.config:
            argv += ["-c", self.config]
        argv += [
            "--bind", f"127.0.0.1:{self.port}",
            "--workers", str(self.workers),
            "--graceful-timeout", "5",
            "--error-logfile", "-",
            # gunicorn 23+ opens ~/.gunicorn/gunicorn.ctl; parallel test servers would share it.
            "--no-control-socket",
            *self.args,
            self.app,
        ]  # fmt: skip
        return argv

    def start(self, timeout: float = 60.0) -> GunicornServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.multiproc_dir is not None:
            if self.empty_multiproc_dir:
                shutil.rmtree(self.multiproc_dir, ignore_errors=True)
            self.multiproc_dir.mkdir(parents=True, exist_ok=True)
        self.process = ManagedProcess(
            f"{self.name}-{self.port}", self.argv(), self.workdir, env=self.env, cwd=REPO_ROOT
        )
        self.process.start(ready=lambda: self._wait_ready(timeout))
        return self

    def writer_pids(self) -> set[str]:
        """Pids (from the file names) of the processes that have counted something."""
        return {path.stem.rsplit("_", 1)[-1] for path in self.multiproc_dir.glob("counter_*.db")}

    def send_until_two_workers_wrote(self, send_round: Callable[[], None], most: int = 10) -> int:
        """Calls send_round until two workers have written, at most `most` times; the count.

        gunicorn does not spread requests evenly: a gthread worker accepts every connection it
        is woken for, and the ready check waits for one worker while the others may still be
        importing the app. Tests of totals across workers scale what they expect by the count.
        """
        rounds = 0
        while rounds == 0 or (len(self.writer_pids()) < 2 and rounds < most):
            send_round()
            rounds += 1
        assert len(self.writer_pids()) >= 2, f"{rounds} rounds of requests all went to one worker"
        return rounds

    def worker_pids(self) -> list[int]:
        try:
            return [child.pid for child in psutil.Process(self.process.pid).children()]
        except psutil.NoSuchProcess:
            return []

    def _wait_ready(self, timeout: float) -> None:
        with self.client() as client:

            def serving() -> bool:
                if not self.process.alive():
                    raise RuntimeError(f"{self.name} exited while starting")
                if len(self.worker_pids()) < self.workers:
                    return False
                # Any HTTP answer (even a 404 or 503) means a worker has imported the app.
                client.get(self.ready_path)
                return True

            wait_until(
                serving,
                timeout,
                0.05,
                what=f"{self.workers} workers, one answering {self.ready_path}",
                ignore=httpx.TransportError,
            )

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def tail(self, lines: int = 40) -> str:
        return self.process.tail(lines) if self.process is not None else "(not started)"
