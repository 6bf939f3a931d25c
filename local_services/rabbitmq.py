"""A real RabbitMQ node on free ports, with its own epmd: nothing shared with the host's.

Debian's rabbitmq-server package is not installed by scripts/bootstrap.sh; tests that need
it skip where it is missing (`RabbitMQServer.available()`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from kombu import Connection

from .ports import free_port
from .process import ManagedProcess
from .waiting import wait_for_port, wait_until

SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")


class RabbitMQServer:
    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.port = free_port()
        self.epmd_port = free_port()
        self.dist_port = free_port()
        self.epmd: ManagedProcess | None = None
        self.process: ManagedProcess | None = None

    @staticmethod
    def available() -> bool:
        return SERVER.exists() and shutil.which("epmd") is not None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def start(self, timeout: float = 90.0) -> RabbitMQServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        # the node's own epmd, in the foreground, so that stop() ends it too
        self.epmd = ManagedProcess(
            f"epmd-{self.epmd_port}",
            [shutil.which("epmd"), "-port", str(self.epmd_port), "-address", "127.0.0.1"],
            self.workdir,
        ).start(ready=lambda: wait_for_port(self.epmd_port))
        base = self.workdir
        env = {
            "HOME": str(base),  # the Erlang cookie goes here, not into the host's
            "ERL_EPMD_PORT": str(self.epmd_port),
            "RABBITMQ_NODENAME": f"painel{self.port}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(base / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
            "RABBITMQ_PID_FILE": str(base / "rabbitmq.pid"),
        }
        self.process = ManagedProcess(
            f"rabbitmq-{self.port}", [str(SERVER)], self.workdir, env=env, cwd=base
        )
        self.process.start(ready=lambda: self._wait_ready(timeout))
        return self

    def _wait_ready(self, timeout: float) -> None:
        wait_for_port(self.port, timeout=timeout)
        wait_until(
            self._connects, 10, what=f"RabbitMQ on :{self.port} to accept AMQP", ignore=OSError
        )

    def _connects(self) -> bool:
        with Connection(self.url, connect_timeout=2) as connection:
            connection.connect()
        return True

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace=20)
        if self.epmd is not None:
            self.epmd.stop()
