"""The health collector against tiny real HTTP servers: healthy, down, slow, 503, garbage."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from local_services.exporter import ExporterProcess
from local_services.ports import free_port
from local_services.waiting import wait_until
from tests.support.documented import undocumented

HEALTHY = {
    "status": "ok",
    "components": {
        "database": {"status": "ok", "latency_seconds": 0.001},
        "cache": {"status": "ok", "latency_seconds": 0.001},
    },
}
DATABASE_DOWN = {
    "status": "error",
    "components": {
        "database": {"status": "error", "latency_seconds": 0.2, "error": "OperationalError"},
        "cache": {"status": "ok", "latency_seconds": 0.001},
    },
}
USER, PASSWORD = "probe", "h3alth-Secret"


class HealthApp:
    """A real HTTP server in a thread; each path answers like one kind of target."""

    def __init__(self) -> None:
        self.database_down = True  # /flaky answers 503 until the test flips it
        self.hits: dict[str, int] = {}
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                app.hits[self.path] = app.hits.get(self.path, 0) + 1
                if self.path == "/healthy":
                    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
                    if self.headers.get("Authorization") != expected:
                        return self._answer(401, b"{}")
                    return self._answer(200, json.dumps(HEALTHY).encode())
                if self.path == "/flaky":
                    document = DATABASE_DOWN if app.database_down else HEALTHY
                    code = 503 if app.database_down else 200
                    return self._answer(code, json.dumps(document).encode())
                if self.path == "/garbage":
                    return self._answer(200, b"\x00\xff<html>not json")
                if self.path == "/slow":
                    time.sleep(3)
                    return self._answer(200, json.dumps(HEALTHY).encode())
                if self.path == "/trickle":  # a byte at a time: each read is quick
                    return self._trickle(json.dumps(HEALTHY).encode() + b" " * 300)
                self._answer(404, b"")

            def _answer(self, code: int, body: bytes) -> None:
                try:
                    self.send_response(code)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the prober gave up on /slow

            def _trickle(self, body: bytes) -> None:
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    for byte in body:  # about 45 s: beyond any wait of the test
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(0.1)
                except OSError:
                    pass  # the prober gave up

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HealthApp:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def app():
    with HealthApp() as running:
        yield running


def test_healthy_down_slow_503_and_garbage_targets(app, tmp_path):
    secret_url = app.url.replace("http://", f"http://{USER}:{PASSWORD}@") + "/healthy"
    healthy = app.url.replace("http://", f"http://{USER}:***@") + "/healthy"
    down = f"http://127.0.0.1:{free_port()}/health"
    flaky, garbage, slow, trickle = (
        app.url + p for p in ("/flaky", "/garbage", "/slow", "/trickle")
    )
    flags = ["--collectors", "health", "--interval", "1", "--health-timeout", "0.5"]
    for url in (secret_url, down, flaky, garbage, slow, trickle):
        flags += ["--health-url", url]

    with ExporterProcess(tmp_path, flags) as exporter:
        targets = (healthy, down, flaky, garbage, slow, trickle)
        scrape = exporter.wait_for(
            lambda s: all(s.value("probe_success", target=t) is not None for t in targets)
        )
        assert scrape.value("probe_success", target=healthy) == 1
        assert scrape.value("probe_http_status_code", target=healthy) == 200
        assert scrape.value("health_component_up", target=healthy, component="database") == 1
        assert scrape.value("health_component_up", target=healthy, component="cache") == 1

        assert scrape.value("probe_success", target=down) == 0
        assert scrape.value("probe_http_status_code", target=down) == 0
        assert scrape.samples("health_component_up", target=down) == []

        assert scrape.value("probe_success", target=flaky) == 0
        assert scrape.value("probe_http_status_code", target=flaky) == 503
        assert scrape.value("health_component_up", target=flaky, component="database") == 0
        assert scrape.value("health_component_up", target=flaky, component="cache") == 1

        assert scrape.value("probe_success", target=garbage) == 0
        assert scrape.value("probe_http_status_code", target=garbage) == 200
        assert scrape.value("health_invalid_responses_total", target=garbage) >= 1
        assert scrape.value("health_invalid_responses_total", target=healthy) == 0
        # probes made and failed, per target and per failing component
        for target in targets:
            assert scrape.value("health_checks_total", target=target) >= 1
        assert scrape.value("health_check_failures_total", target=healthy) == 0
        for target in (down, flaky, garbage):
            failed = scrape.value("health_check_failures_total", target=target)
            assert failed == scrape.value("health_checks_total", target=target)
        component_failures = "health_component_failures_total"
        assert scrape.value(component_failures, target=flaky, component="database") >= 1
        assert scrape.value(component_failures, target=flaky, component="cache") == 0
        assert scrape.value(component_failures, target=healthy, component="database") == 0
        assert scrape.samples(component_failures, target=down) == []  # no /health JSON

        assert scrape.value("probe_success", target=slow) == 0
        assert scrape.value("probe_duration_seconds", target=slow) >= 0.5
        # a trickling answer fails at the timeout, not when its last byte comes
        assert scrape.value("probe_success", target=trickle) == 0
        assert scrape.value("probe_http_status_code", target=trickle) == 200
        assert undocumented(scrape, ("probe_", "health_")) == []

        # a slow target never holds up a scrape: probes run on their own threads
        started = time.monotonic()
        exporter.scrape()
        assert time.monotonic() - started < 1.0

        app.database_down = False
        recovered = exporter.wait_for(lambda s: s.value("probe_success", target=flaky) == 1)
        assert recovered.value("health_component_up", target=flaky, component="database") == 1

        page = exporter.get("/").body
        assert "h3alth-Secret" not in page + recovered.text + exporter.log()
        assert f"http://{USER}:***@" in page and "failed" in page


def test_probes_run_on_their_own_schedule_and_ignore_proxies(app, tmp_path):
    flags = ["--collectors", "health", "--interval", "0.2", "--health-timeout", "0.1"]
    dead_proxy = f"http://127.0.0.1:{free_port()}"
    env = {"http_proxy": dead_proxy, "HTTP_PROXY": dead_proxy, "no_proxy": "", "NO_PROXY": ""}
    with ExporterProcess(tmp_path, [*flags, "--health-url", app.url + "/flaky"], env=env):
        # no scrape at all in this test
        wait_until(lambda: app.hits.get("/flaky", 0) >= 3, 20, 0.05, what="three probes")
