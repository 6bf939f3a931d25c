"""The load generator's guarantees: loopback only, reproducible, bounded, a progress line."""

from __future__ import annotations

import io
import itertools
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from demo import load


class Answer(BaseHTTPRequestHandler):
    """200 to any GET, 404 under /missing/."""

    def do_GET(self) -> None:
        self.send_response(404 if self.path.startswith("/missing/") else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000", "http://127.3.2.1", "http://localhost:1", "http://[::1]:80"]
)
def test_loopback_targets_are_accepted(url):
    load.check_target(url)


@pytest.mark.parametrize("url", ["http://10.0.0.5:8000", "http://example.com", "http://app:8000"])
def test_other_targets_are_refused_unless_named(url):
    with pytest.raises(SystemExit, match="not a loopback address"):
        load.check_target(url)
    load.check_target(url, allowed_hosts=(url.split("//")[1].rsplit(":", 1)[0],))


def test_main_refuses_a_remote_target_before_sending_anything():
    with pytest.raises(SystemExit, match="not a loopback"):
        load.main(["--url", "http://192.168.1.10:8000", "--requests", "1"])


@pytest.mark.parametrize("flag", ["--requests=0", "--duration=0", "--concurrency=0"])
def test_main_wants_bounds(flag, capsys):
    with pytest.raises(SystemExit):
        load.main([flag])
    assert "must be positive" in capsys.readouterr().err


def test_the_same_seed_gives_the_same_calls_and_another_seed_others():
    assert load.plan(200, seed=3) == load.plan(200, seed=3)
    assert load.plan(200, seed=3) != load.plan(200, seed=4)
    kinds = {call.kind for call in load.plan(500, seed=1)}
    assert kinds == {entry[0] for entry in load.MIX}


def test_every_kind_covers_each_kind_for_each_tenant():
    calls = load.every_kind(port=8000)
    assert {(c.kind, c.tenant) for c in calls} == {
        (entry[0], tenant) for entry in load.MIX for tenant in load.TENANTS
    }
    subdomain = [c for c in calls if c.tenant == load.SUBDOMAIN_TENANT]
    assert all(("Host", "umbrella.localhost:8000") in c.headers for c in subdomain)
    assert all(not c.headers for c in calls if c.tenant == load.NO_TENANT)


def test_progress_prints_a_line_per_update_without_a_terminal():
    out = io.StringIO()
    progress = load.Progress(total=10, stream=out, every=0)
    tally = load.Tally()
    tally.add(load.Call("GET", "/", "/", "acme"), 200)
    tally.add(load.Call("GET", "/x", "<unmatched>", "acme"), 404)
    tally.add(load.Call("GET", "/x", "<unmatched>", "acme"), None)
    progress.update(tally, final=True)
    assert out.getvalue() == "load: 3/10 requests, " + out.getvalue().split(", ", 1)[1]
    assert "2xx 1 4xx 1, 1 unanswered\n" in out.getvalue()
    assert tally.count(endpoint="<unmatched>") == 1 and tally.sent == 3


def test_run_tallies_every_answer(server_url):
    calls = [load.Call("GET", f"/orders/{n}/", "/orders/<int:pk>/", "acme") for n in range(30)]
    calls += [load.Call("GET", "/missing/", "<unmatched>", "<none>")] * 5
    tally = load.run(server_url, calls, duration=60)
    assert tally.sent == 35 and tally.failures == 0
    assert tally.count(endpoint="/orders/<int:pk>/", status=200) == 30
    assert tally.count(tenant="<none>", status=404) == 5


def test_run_reads_its_calls_as_it_sends_them(server_url):
    """An endless plan is never held: calls are drawn only as sending threads free up."""
    drawn = 0

    def endless():
        nonlocal drawn
        for n in itertools.count():
            drawn += 1
            yield load.Call("GET", f"/{n}", "/", "acme")

    stop = threading.Event()

    def stop_after_twenty(tally: load.Tally) -> None:
        if tally.sent >= 20:
            stop.set()

    concurrency = 2
    tally = load.run(
        server_url, endless(), duration=60, concurrency=concurrency,
        on_progress=stop_after_twenty, stop=stop,
    )  # fmt: skip
    assert tally.sent >= 20
    # Drawn but not sent: those waiting in a slot when the stop came, and the one after.
    assert drawn <= tally.sent + 2 * concurrency + 1


def test_run_raises_what_broke_a_sending_thread(server_url):
    def broken(tally: load.Tally) -> None:
        raise ValueError("progress display broke")

    calls = [load.Call("GET", "/", "/", "acme")] * 3
    with pytest.raises(ValueError, match="progress display broke"):
        load.run(server_url, calls, duration=60, on_progress=broken)


def test_iter_plan_is_the_plan_one_call_at_a_time():
    assert list(load.iter_plan(300, seed=7, port=80)) == load.plan(300, seed=7, port=80)
