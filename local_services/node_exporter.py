"""Debian's prometheus-node-exporter on a free port, limited to the collectors painel mirrors."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from .peer_exporter import PeerExporterProcess
from .ports import free_port

NODE_EXPORTER_COLLECTORS = (
    "cpu",
    "loadavg",
    "meminfo",
    "filesystem",
    "diskstats",
    "netdev",
    "stat",
)


def node_exporter_binary(allow_install: bool = True) -> tuple[str | None, str]:
    """Debian's prometheus-node-exporter, installed with apt-get when missing and allowed.

    Returns (path or None, why it is missing). Debian's package would start a service on
    :9100; under a policy-rc.d it does not, else it is disabled again right away.
    """
    for name in ("prometheus-node-exporter", "node_exporter"):
        if shutil.which(name):
            return shutil.which(name), ""
    if not allow_install or shutil.which("apt-get") is None or os.geteuid() != 0:
        return None, "prometheus-node-exporter is not installed (apt-get install it as root)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends"]
    install += ["prometheus-node-exporter"]
    for step in (install, ["apt-get", "update", "-qq"], install):  # update only if needed
        try:
            subprocess.run(step, env=env, capture_output=True, timeout=300, check=False)
        except subprocess.TimeoutExpired:
            break
        if shutil.which("prometheus-node-exporter"):
            if shutil.which("systemctl"):
                subprocess.run(
                    ["systemctl", "disable", "--now", "prometheus-node-exporter"],
                    capture_output=True,
                    check=False,
                )
            return shutil.which("prometheus-node-exporter"), ""
    return None, "apt-get could not install prometheus-node-exporter (offline?)"


class NodeExporterProcess(PeerExporterProcess):
    """A real node_exporter on a free port, limited to the collectors painel mirrors."""

    def __init__(self, binary: str, workdir: Path, all_collectors: bool = False) -> None:
        port = free_port()
        flags = [f"--web.listen-address=127.0.0.1:{port}"]
        if not all_collectors:
            flags += ["--collector.disable-defaults"]
            flags += [f"--collector.{name}" for name in NODE_EXPORTER_COLLECTORS]
        super().__init__("node-exporter", [binary, *flags], workdir, port)
