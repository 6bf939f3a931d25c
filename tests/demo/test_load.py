"""The load generator's guarantees: loopback only, reproducible, bounded, a progress line."""

from __future__ import annotations

import io

import pytest

from demo import load


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
