"""Debian's prometheus-redis-exporter on a free port, watching one redis-server.

The node_exporter twin lives in tests/support/exporter.py; both packages are installed
by scripts/bootstrap.sh when missing.
"""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

from tests.support.exporter import Scrape
from tests.support.ports import free_port, wait_for_port
from tests.support.process import ManagedProcess


def redis_exporter_binary() -> str | None:
    return shutil.which("prometheus-redis-exporter") or shutil.which("redis_exporter")


class RedisExporterProcess:
    def __init__(self, binary: str, workdir: Path, redis_addr: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        flags = [f"-web.listen-address=127.0.0.1:{self.port}", f"-redis.addr=redis://{redis_addr}"]
        self.process = ManagedProcess(f"redis-exporter-{self.port}", [binary, *flags], workdir)

    def __enter__(self) -> RedisExporterProcess:
        self.process.start(ready=lambda: wait_for_port(self.port, timeout=20))
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.stop()

    def scrape(self) -> Scrape:
        with urllib.request.urlopen(self.url + "/metrics", timeout=5) as answer:
            return Scrape(answer.read().decode())
