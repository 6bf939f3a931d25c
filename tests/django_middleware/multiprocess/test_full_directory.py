"""A metrics directory that fills up, goes away or turns read-only under a real gunicorn:
every request is still answered, no worker dies, /metrics answers and counts the drops."""

from __future__ import annotations

import json
import subprocess
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from local_services.gunicorn import GunicornServer

from ..helpers import WSGI_APP, server_env

pytestmark = pytest.mark.slow


def _mount(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", *args], capture_output=True, text=True)


@pytest.fixture
def tmpfs(tmp_path):
    """A tiny real tmpfs where gunicorn's PROMETHEUS_MULTIPROC_DIR will be."""
    path = tmp_path / "prometheus-multiproc"
    path.mkdir()
    mounted = _mount("-t", "tmpfs", "-o", "size=512k", "tmpfs", str(path))
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield path
    subprocess.run(["umount", "-l", str(path)], check=False)


def gunicorn(tmp_path, args=()) -> GunicornServer:
    return GunicornServer(
        tmp_path,
        WSGI_APP,
        workers=2,
        empty_multiproc_dir=False,
        args=args,
        env=server_env(PAINEL_TEST_SETTINGS=json.dumps({"MAX_TENANTS": 5000})),
    ).start()


@pytest.fixture
def app(tmp_path, tmpfs):
    server = gunicorn(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def restarting_app(tmp_path, tmpfs):
    """Workers replaced every 50 requests: new workers open new files in the directory."""
    server = gunicorn(tmp_path, ["--max-requests", "50"])
    yield server
    server.stop()


def scrape(app) -> tuple[float, dict[tuple[str, tuple], float]]:
    """Seconds /metrics took, and its samples by (name, sorted labels)."""
    start = time.monotonic()
    response = httpx.get(f"{app.url}/metrics", timeout=10)
    took = time.monotonic() - start
    assert response.status_code == 200, app.tail(60)
    return took, {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def dropped(samples, reason: str) -> float:
    return samples.get(("painel_metrics_dropped_total", (("reason", reason),)), 0.0)


def requests_of(samples, tenant: str) -> float:
    return sum(
        value
        for (name, labels), value in samples.items()
        if name == "django_http_requests_total" and ("tenant", tenant) in labels
    )


def send(app, tenants: range, path: str = "/status/{code}/") -> list[int]:
    statuses = []
    with httpx.Client(base_url=app.url, timeout=10) as client:
        for i in tenants:
            code = (200, 201, 202, 204, 404)[i % 5]
            response = client.get(path.format(code=code), headers={"X-Tenant-ID": f"t{i}"})
            statuses.append((response.status_code, code))
    return statuses


def assert_all_answered(statuses) -> None:
    assert [got for got, _ in statuses] == [want for _, want in statuses]


def assert_no_worker_died(app, pids) -> None:
    assert sorted(app.worker_pids()) == pids, app.tail()
    assert "SIGBUS" not in app.tail(400) and "Worker (pid" not in app.tail(400), app.tail()


def test_full_tmpfs_costs_no_request_and_recording_resumes(app, tmpfs):
    pids = sorted(app.worker_pids())
    _, samples = scrape(app)
    assert ("painel_metrics_dropped_total", (("reason", "no_space"),)) in samples  # 0, declared

    statuses = send(app, range(1500))
    assert_all_answered(statuses)
    # django-prometheus' database metrics write into the same full directory.
    with httpx.Client(base_url=app.url, timeout=10) as client:
        assert all(client.get("/query/").status_code == 200 for _ in range(20))
    assert_no_worker_died(app, pids)
    took, samples = scrape(app)
    assert took < 2
    assert dropped(samples, "no_space") > 0
    # Logged once per episode and worker, not per request.
    assert 1 <= app.tail(5000).count("painel: dropping metrics") <= len(pids), app.tail()

    assert _mount("-o", "remount,size=8m", str(tmpfs)).returncode == 0
    time.sleep(1.2)  # past the retry interval
    send(app, range(20000, 20040))
    _, samples = scrape(app)
    assert requests_of(samples, "t20039") == 1  # recorded again
    assert "painel: recording metrics again" in app.tail(5000)
    assert_no_worker_died(app, pids)


def test_full_tmpfs_keeps_workers_restarting_and_the_master_merging(restarting_app, tmpfs):
    app = restarting_app
    # 1,500 requests: workers fill the directory, exit every 50 requests and are merged (or
    # kept for a later merge) by the master's child_exit on a full filesystem.
    assert_all_answered(send(app, range(1500)))
    assert app.process.alive()
    assert len(app.worker_pids()) == 2
    assert "SIGBUS" not in app.tail(5000), app.tail()
    took, _ = scrape(app)
    assert took < 2


def test_removed_directory_costs_no_request(restarting_app, tmpfs):
    app = restarting_app
    subprocess.run(["umount", "-l", str(tmpfs)], check=True)
    tmpfs.rmdir()
    # 300 requests: workers keep writing to their files, and new ones boot without a directory.
    assert_all_answered(send(app, range(300)))
    assert app.process.alive()
    assert len(app.worker_pids()) == 2
    assert "SIGBUS" not in app.tail(5000), app.tail()
    took, _ = scrape(app)
    assert took < 2


def test_read_only_directory_costs_no_request(restarting_app, tmpfs):
    app = restarting_app
    # `remount,ro` of the tmpfs is refused while workers hold files open for writing; a
    # read-only bind mount over it makes every file opened from now on read-only.
    assert _mount("--bind", str(tmpfs), str(tmpfs)).returncode == 0
    try:
        remounted = _mount("-o", "remount,bind,ro", str(tmpfs))
        assert remounted.returncode == 0, remounted.stderr
        assert_all_answered(send(app, range(300)))  # 300 requests: several new workers
        assert app.process.alive()
        assert "SIGBUS" not in app.tail(400), app.tail()
        took, _ = scrape(app)
        assert took < 2
    finally:
        subprocess.run(["umount", str(tmpfs)], check=False)


def test_damaged_file_costs_no_request(restarting_app, tmpfs):
    app = restarting_app
    send(app, range(20))
    for path in tmpfs.glob("histogram_*.db"):
        path.write_bytes(b"\xff" * path.stat().st_size)
    assert_all_answered(send(app, range(300)))
    assert app.process.alive()
    assert "SIGBUS" not in app.tail(400), app.tail()
    took, _ = scrape(app)
    assert took < 2
