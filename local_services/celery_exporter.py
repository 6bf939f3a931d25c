"""danihodovic's celery-exporter on a free port, receiving one broker's events.

It is not one of painel's dependencies: install it (PyPI `prometheus-exporter-celery`) in a
virtual environment of its own and give that environment's python.
"""

from __future__ import annotations

from pathlib import Path

from local_services.ports import free_port
from local_services.process import ManagedProcess
from local_services.waiting import wait_for_port

# the package ships its click command without a console script
RUN_CLI = "from src.cli import cli; cli()"


class CeleryExporterProcess:
    def __init__(self, python: str, workdir: Path, broker_url: str, queue: str = "celery") -> None:
        self.port = free_port()
        flags = ["--broker-url", broker_url, "--host", "127.0.0.1", "--port", str(self.port)]
        argv = [python, "-c", RUN_CLI, *flags, "--queues", queue]
        # run from workdir: a `src` folder in the current directory would shadow the package
        self.process = ManagedProcess(f"celery-exporter-{self.port}", argv, workdir, cwd=workdir)

    def __enter__(self) -> CeleryExporterProcess:
        self.process.start(ready=lambda: wait_for_port(self.port, timeout=30))
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.stop()
