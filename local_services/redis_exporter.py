"""Debian's prometheus-redis-exporter on a free port, watching one redis-server.

The node_exporter twin lives in local_services/node_exporter.py; both packages are installed
by scripts/bootstrap.sh when missing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from local_services.peer_exporter import PeerExporterProcess
from local_services.ports import free_port


def redis_exporter_binary() -> str | None:
    return shutil.which("prometheus-redis-exporter") or shutil.which("redis_exporter")


class RedisExporterProcess(PeerExporterProcess):
    def __init__(self, binary: str, workdir: Path, redis_addr: str) -> None:
        port = free_port()
        flags = [f"-web.listen-address=127.0.0.1:{port}", f"-redis.addr=redis://{redis_addr}"]
        super().__init__("redis-exporter", [binary, *flags], workdir, port)
