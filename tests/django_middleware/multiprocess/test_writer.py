"""MmapRequestSeries, the middleware's multiprocess writer: the files it writes are the files
prometheus_client writes, and the totals of a real gunicorn add up exactly."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from django_middleware.conf import DEFAULT_BUCKETS
from local_services.gunicorn import GunicornServer
from local_services.paths import REPO_ROOT

from ..helpers import WSGI_APP, server_env
from . import writer_process as writer
from .helpers import parse, scrape_ours_text, scrape_stock_text


def write(how: str, directory) -> dict:
    directory.mkdir()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.django_middleware.multiprocess.writer_process",
            how,
            directory,
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return json.loads(out)


def files_by_role(directory, run: dict) -> dict[str, bytes]:
    """{"counter_parent": bytes, ...}: the file names hold pids, which differ between runs."""
    roles = {str(run["parent"]): "parent", str(run["child"]): "child"}
    files = {}
    for path in directory.iterdir():
        kind, pid = path.stem.rsplit("_", 1)
        files[f"{kind}_{roles[pid]}"] = path.read_bytes()
    return files


def sample(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_the_series_writes_byte_for_byte_what_prometheus_client_writes(tmp_path):
    public = write("public", tmp_path / "public")
    series = write("series", tmp_path / "series")
    assert public["writer"] == "RequestSeries"
    assert series["writer"] == "MmapRequestSeries"  # else this test would compare nothing

    ours = files_by_role(tmp_path / "series", series)
    theirs = files_by_role(tmp_path / "public", public)
    assert sorted(ours) == [
        "counter_child",
        "counter_parent",
        "histogram_child",
        "histogram_parent",
    ]
    assert ours == theirs


def test_both_readers_see_the_exact_totals_of_a_forked_threaded_writer(tmp_path):
    write("series", tmp_path / "series")
    stock = parse(scrape_stock_text(tmp_path / "series"))
    assert parse(scrape_ours_text(tmp_path / "series")) == stock

    for index, tenant in enumerate(writer.TENANTS):
        seen = writer.observed(index)
        labels = {"method": "GET", "endpoint": "/api/", "tenant": tenant}
        assert sample(stock, "django_http_requests_total", status="200", **labels) == len(seen)
        assert sample(stock, "django_http_request_duration_seconds_count", **labels) == len(seen)
        assert sample(stock, "django_http_request_duration_seconds_sum", **labels) == sum(seen)
        for bound in (*DEFAULT_BUCKETS, "+Inf"):
            in_bucket = sample(
                stock, "django_http_request_duration_seconds_bucket", le=str(bound), **labels
            )
            assert in_bucket == sum(d <= float(bound) for d in seen), bound


THRESHOLD = 0.025  # one of the default buckets
TENANTS = ("acme", "globex", "initech")


@pytest.mark.slow
def test_gunicorn_threaded_workers_add_up_exactly_for_both_readers(tmp_path):
    server = GunicornServer(
        tmp_path,
        WSGI_APP,
        workers=3,
        args=["--threads", "4"],  # threads of a worker write at once: the lock's job
        env=server_env(PAINEL_TEST_SETTINGS=json.dumps({"SLOW_REQUEST_THRESHOLD": THRESHOLD})),
    ).start()
    # Fast requests and slow ones (over the threshold: the slow path writes the same series).
    jobs = [("/api/v1/orders/7/", t) for t in TENANTS for _ in range(40)]
    jobs += [("/sleep/30/", t) for t in TENANTS for _ in range(6)]

    def send(chunk):
        with server.client() as client:
            for path, tenant in chunk:
                assert client.get(path, headers={"X-Tenant-ID": tenant}).status_code == 200

    def send_round():
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(send, [jobs[i::8] for i in range(8)]))

    try:
        rounds = server.send_until_two_workers_wrote(send_round)
        with server.client() as client:
            served = parse(client.get("/metrics").text)
        # The files as the workers left them, read by prometheus_client's own collector.
        stock = parse(scrape_stock_text(server.multiproc_dir))
    finally:
        server.stop()
    http = {key: value for key, value in stock.items() if key[0].startswith("django_http_")}
    assert {key: served[key] for key in http} == http  # the app's /metrics reads the same

    for endpoint, path, count in (
        ("/api/v1/orders/<int:pk>/", "/api/v1/orders/7/", 40 * rounds),
        ("/sleep/<int:ms>/", "/sleep/30/", 6 * rounds),
    ):
        for tenant in TENANTS:
            labels = {"method": "GET", "endpoint": endpoint, "tenant": tenant}
            assert sample(http, "django_http_requests_total", status="200", **labels) == count
            assert sample(http, "django_http_request_duration_seconds_count", **labels) == count
            assert sample(
                http, "django_http_request_duration_seconds_bucket", le="+Inf", **labels
            ) == (count)
            fast = sample(
                http, "django_http_request_duration_seconds_bucket", le=str(THRESHOLD), **labels
            )
            # Every request over the threshold is counted slow, whatever the machine's speed.
            assert sample(http, "django_http_slow_requests_total", **labels) == count - fast
            if path == "/sleep/30/":
                assert fast == 0
                assert (
                    sample(http, "django_http_request_duration_seconds_sum", **labels)
                    >= 0.03 * count
                )
