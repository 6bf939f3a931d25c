"""A real redis-server on a free port, nothing kept on disk."""

from __future__ import annotations

import shutil
from pathlib import Path

import redis

from .ports import free_port
from .process import ManagedProcess
from .waiting import wait_for_port, wait_until


class RedisServer:
    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, db=db, socket_timeout=5)

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run scripts/bootstrap.sh")
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [
            binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.workdir),
            "--daemonize", "no",
        ]  # fmt: skip
        self.process = ManagedProcess(f"redis-{self.port}", argv, self.workdir)
        self.process.start(ready=self._wait_ready)
        return self

    def _wait_ready(self) -> None:
        wait_for_port(self.port)
        wait_until(
            lambda: self.client().ping(),
            10,
            0.05,
            what=f"redis-server on :{self.port} to answer PING",
            ignore=redis.ConnectionError,
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()

    def restart(self) -> None:
        """Start again on the same port (after stop or kill)."""
        self.stop()
        self.start()
