"""The README's main command: scripts/stack.sh starts everything, serves, stops cleanly."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from pathlib import Path

import httpx
import psutil
import pytest

from local_services.paths import REPO_ROOT
from local_services.waiting import wait_until


def read_until(proc: subprocess.Popen, marker: str, timeout: float) -> list[str]:
    lines: list[str] = []

    def printed() -> str:
        return "it printed:\n" + "\n".join(lines)

    def marker_read() -> bool:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            raise AssertionError(f"no {marker!r} from stack.sh; {printed()}")
        lines.append(line.rstrip("\n"))
        return marker in line

    wait_until(marker_read, timeout, 0, what=f"{marker!r} from stack.sh", detail=printed)
    return lines


def listening(url: str) -> bool:
    host, port = re.match(r"\w+://([\d.]+):(\d+)", url).groups()
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, int(port))) == 0


def holding_files_under(path: Path) -> list[str]:
    """Processes with a file open below `path`: every process the stack starts (and each
    child: gunicorn's workers, Celery's pool) has its output in a log file there."""
    held = []
    for proc in psutil.process_iter(["name"]):
        try:
            if any(f.path.startswith(f"{path}/") for f in proc.open_files()):
                held.append(f"{proc.info['name']} {proc.pid}")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return held


@pytest.mark.slow
def test_stack_sh_starts_serves_and_stops_on_ctrl_c(tmp_path):
    proc = subprocess.Popen(
        ["bash", "scripts/stack.sh", "--free-ports", "--duration", "240", "--load-rate", "20"]
        + ["--workdir", str(tmp_path / "run"), "--log-dir", str(tmp_path / "logs")],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,  # no TTY, as under CI or a supervisor
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        banner = read_until(proc, "Press Ctrl-C to stop.", timeout=180)
        urls = dict(
            re.findall(
                r"^\s+(app|exporter|prometheus|alertmanager|redis|cache)\s+(\w+://\S+)",
                "\n".join(banner),
                re.M,
            )
        )
        assert set(urls) == {"app", "exporter", "prometheus", "alertmanager", "redis", "cache"}, (
            banner
        )

        app = urls["app"].split("/api/")[0]
        orders = httpx.get(f"{app}/api/v1/orders/", headers={"X-Tenant-ID": "acme"}, timeout=10)
        assert orders.status_code == 200 and orders.json()["orders"]
        assert "django_http_requests_total" in httpx.get(f"{app}/metrics", timeout=10).text
        exporter = httpx.get(urls["exporter"], timeout=10).text
        assert "redis_up" in exporter and "probe_success" in exporter
        prometheus = urls["prometheus"].split("/alerts")[0]
        assert httpx.get(f"{prometheus}/-/ready", timeout=10).status_code == 200
        assert httpx.get(urls["alertmanager"] + "-/ready", timeout=10).status_code == 200
        # The load runs and says how far it got.
        read_until(proc, "load: ", timeout=30)
        running = holding_files_under(tmp_path / "run")
        # 2 redis-servers, gunicorn and 2 workers, Celery and 2 pool processes, the exporter,
        # Alertmanager, Prometheus.
        assert len(running) >= 11, running

        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        rest = proc.communicate(timeout=60)[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, rest
    assert "stack: stopped." in rest
    for name, url in urls.items():
        assert not listening(url), f"{name} still listens on {url} after the stack stopped"
    assert holding_files_under(tmp_path / "run") == [], "processes left behind"


@pytest.mark.slow
def test_stack_sh_stops_by_itself_after_its_duration(tmp_path):
    """PAINEL_STACK_DURATION: how a CI job or a test runs the stack for a while, no TTY."""
    done = subprocess.run(
        ["bash", "scripts/stack.sh", "--free-ports", "--no-load"]
        + ["--workdir", str(tmp_path / "run"), "--log-dir", str(tmp_path / "logs")],
        cwd=REPO_ROOT,
        env={**os.environ, "PAINEL_STACK_DURATION": "2"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 s are up, stopping..." in done.stdout
    assert done.stdout.rstrip().endswith("stack: stopped.")
    assert "load:" not in done.stdout
