"""A peer's exporter binary (node_exporter, redis_exporter) on a free loopback port, run
beside painel's so that the two can be compared."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from local_services.ports import free_port
from local_services.process import ManagedProcess
from local_services.scrape import Scrape
from local_services.waiting import wait_for_port


class PeerExporterProcess:
    def __init__(self, name: str, argv: list[str], workdir: Path, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.process = ManagedProcess(f"{name}-{port}", argv, workdir)

    def __enter__(self):
        self.process.start(ready=lambda: wait_for_port(self.port, timeout=20))
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.stop()

    def scrape(self) -> Scrape:
        with urllib.request.urlopen(self.url + "/metrics", timeout=5) as answer:
            return Scrape(answer.read().decode())


__all__ = ["PeerExporterProcess", "free_port"]
