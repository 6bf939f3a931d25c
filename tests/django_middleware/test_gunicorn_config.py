"""`gunicorn -c python:django_middleware.gunicorn`: what multiprocess mode needs at start-up."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess

import psutil
import pytest
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.parser import text_string_to_metric_families

from local_services.gunicorn import GunicornServer
from local_services.paths import REPO_ROOT
from local_services.waiting import wait_until

from .helpers import WSGI_APP, server_env

pytestmark = pytest.mark.slow


def test_gunicorn_refuses_to_start_without_a_multiprocess_directory(tmp_path):
    server = GunicornServer(tmp_path, WSGI_APP, workers=1, env=server_env(), multiprocess=False)
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    result = subprocess.run(
        server.argv(), cwd=REPO_ROOT, env={**env, **server.env}, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "set PROMETHEUS_MULTIPROC_DIR to an existing directory" in result.stderr


def test_gunicorn_refuses_to_start_with_an_empty_multiprocess_directory(tmp_path):
    server = GunicornServer(tmp_path, WSGI_APP, workers=1, env=server_env(), multiprocess=False)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    result = subprocess.run(
        server.argv(), cwd=workdir, env={**os.environ, **server.env, "PROMETHEUS_MULTIPROC_DIR": ""},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "PROMETHEUS_MULTIPROC_DIR is set but empty" in result.stderr
    assert list(workdir.iterdir()) == []  # no metric files in the current directory


def test_files_left_by_an_earlier_run_are_not_counted_again(tmp_path):
    server = GunicornServer(
        tmp_path, WSGI_APP, workers=1, env=server_env(), empty_multiproc_dir=False
    )
    server.multiproc_dir.mkdir(parents=True)
    stale = MmapedDict(str(server.multiproc_dir / "counter_999999.db"))
    labels = {"method": "GET", "endpoint": "/", "status": "200", "tenant": "stale"}
    key = mmap_key(
        "django_http_requests",
        "django_http_requests_total",
        list(labels),
        list(labels.values()),
        "",
    )
    stale.write_value(key, 1000.0, 0.0)
    stale.close()
    server.start()
    try:
        with server.client() as client:
            text = client.get("/metrics").text
    finally:
        server.stop()
    tenants = {
        s.labels.get("tenant")
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "django_http_requests_total"
    }
    assert "stale" not in tenants
    assert not (server.multiproc_dir / "counter_999999.db").exists()


def _requests_total(server: GunicornServer) -> float:
    with server.client() as client:
        text = client.get("/metrics").text
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "django_http_requests_total" and s.labels.get("tenant") == "upgrade"
    )


def test_a_usr2_upgrade_keeps_the_counts_of_the_running_workers(tmp_path):
    """gunicorn's zero-downtime upgrade: USR2 execs a new master beside the old one, then the
    old one is stopped. The new master must not wipe the files the old workers still own."""
    server = GunicornServer(tmp_path, WSGI_APP, workers=2, env=server_env()).start()
    new_master = None
    try:
        with server.client() as client:
            for _ in range(20):
                assert client.get("/", headers={"X-Tenant-ID": "upgrade"}).status_code == 200
        assert _requests_total(server) == 20
        old_master = psutil.Process(server.process.pid)
        old_workers = set(server.worker_pids())
        old_master.send_signal(signal.SIGUSR2)
        new_master = wait_until(
            lambda: _new_master(old_master, old_workers), 30, what="a new master"
        )
        wait_until(lambda: len(new_master.children()) == 2, 30, what="the new master's workers")
        # The old master stops its workers (child_exit merges them) and leaves.
        old_master.send_signal(signal.SIGTERM)
        wait_until(
            lambda: not old_master.is_running() or old_master.status() == "zombie",
            30,
            what="the old master to stop",
        )
        assert _requests_total(server) == 20
    finally:
        server.stop()
        # Once the old master is gone the new one is no child of ours: stop it by name.
        if new_master is not None:
            _stop_tree(new_master)


def _stop_tree(master: psutil.Process) -> None:
    with contextlib.suppress(psutil.NoSuchProcess):
        processes = [master, *master.children(recursive=True)]
        for process in processes:
            process.terminate()
        _, alive = psutil.wait_procs(processes, timeout=10)
        for process in alive:
            process.kill()


def _new_master(old_master: psutil.Process, old_workers: set[int]) -> psutil.Process | None:
    for child in old_master.children():
        if child.pid not in old_workers and child.children():
            return child
    return None
