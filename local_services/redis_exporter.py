"""Debian's prometheus-redis-exporter on a free port, watching one redis-server.

The node_exporter twin lives in local_services/node_exporter.py; both packages are installed
by scripts/bootstrap.sh when missing.
"""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

from local_services.ports import free_port
from local_services.process import ManagedProcess
from local_services.scrape import Scrape
from local_services.waiting import wait_for_port


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
