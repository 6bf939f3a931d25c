"""The redis collector against real redis-servers: exact counts, down, hung, back up."""

from __future__ import annotations

import signal
import socket
import time

import pytest

from local_services.exporter import ExporterProcess
from local_services.process import ManagedProcess
from local_services.redis import RedisServer
from local_services.waiting import wait_until
from tests.support.documented import undocumented


@pytest.fixture
def exporter_for(tmp_path):
    started: list[ExporterProcess] = []

    def start(*flags: str, env: dict[str, str] | None = None) -> ExporterProcess:
        exporter = ExporterProcess(tmp_path, ["--collectors", "redis", *flags], env=env)
        started.append(exporter.start())
        return exporter

    yield start
    for exporter in started:
        exporter.stop()


def test_hits_misses_and_commands_are_counted_exactly(redis_server, exporter_for):
    exporter = exporter_for("--redis-url", redis_server.url)
    addr = redis_server.addr
    before = exporter.wait_for(lambda s: s.value("redis_up", addr=addr) == 1)
    client = redis_server.client()
    client.set("painel:a", "1")
    client.set("painel:b", "2", ex=3600)
    for _ in range(3):
        client.get("painel:a")
    for _ in range(2):
        client.get("painel:missing")

    after = exporter.scrape()

    def delta(name: str, **labels: str) -> float:
        return after.value(name, addr=addr, **labels) - (
            before.value(name, addr=addr, **labels) or 0
        )

    assert delta("redis_keyspace_hits_total") == 3
    assert delta("redis_keyspace_misses_total") == 2
    assert delta("redis_commands_total", cmd="get") == 5
    assert delta("redis_commands_total", cmd="set") == 2
    assert delta("redis_commands_processed_total") >= 7  # ours, and the exporter's own
    get_usec = client.info("commandstats")["cmdstat_get"]["usec"]  # no GET since the scrape
    assert after.value("redis_commands_duration_seconds_total", addr=addr, cmd="get") == (
        get_usec / 1e6
    )
    assert after.value("redis_db_keys", addr=addr, db="db0") == 2
    assert after.value("redis_connected_clients", addr=addr) >= 2  # the test's and ours
    assert after.value("redis_uptime_in_seconds", addr=addr) >= 0
    assert after.value("redis_memory_used_bytes", addr=addr) > 0
    assert after.value("redis_memory_max_bytes", addr=addr) == 0  # the fixture sets no limit
    assert after.value("redis_latency_seconds", addr=addr) > 0
    for name in ("redis_expired_keys_total", "redis_evicted_keys_total"):
        assert after.value(name, addr=addr) == 0
    assert after.type_of("redis_keyspace_hits") == "counter"
    assert after.type_of("redis_commands_processed") == "counter"
    assert after.value("painel_exporter_collector_success", collector="redis") == 1
    assert undocumented(after, ("redis_",)) == []


def test_expired_and_evicted_keys_and_the_memory_limit(redis_server, exporter_for):
    exporter = exporter_for("--redis-url", redis_server.url)
    addr = redis_server.addr
    before = exporter.wait_for(lambda s: s.value("redis_up", addr=addr) == 1)
    client = redis_server.client()
    keys = [f"painel:ttl:{n}" for n in range(3)]
    for key in keys:
        client.set(key, "x", px=1)
    # a lookup expires a key whose TTL ran out
    wait_until(lambda: not client.exists(*keys), 10, 0, what="keys with a 1 ms TTL to expire")
    limit = client.info("memory")["used_memory"] + 2_000_000
    client.config_set("maxmemory-policy", "allkeys-random")
    client.config_set("maxmemory", limit)
    payload = "x" * 10_000
    for n in range(400):  # 4 MB into a 2 MB margin: the server must evict
        client.set(f"painel:big:{n}", payload)

    after = exporter.scrape()
    expired = after.value("redis_expired_keys_total", addr=addr)
    assert expired - before.value("redis_expired_keys_total", addr=addr) == 3
    evicted = after.value("redis_evicted_keys_total", addr=addr)
    assert evicted == client.info("stats")["evicted_keys"] > 0  # no write since the scrape
    assert after.value("redis_memory_max_bytes", addr=addr) == limit


def test_eviction_policy_expiring_keys_client_limit_and_rejected_connections(
    redis_server, exporter_for
):
    """What tells a cache that evicts by design from a Redis that will refuse writes."""
    exporter = exporter_for("--redis-url", redis_server.url)
    addr = redis_server.addr
    before = exporter.wait_for(lambda s: s.value("redis_up", addr=addr) == 1)
    assert before.value("redis_maxmemory_policy_info", addr=addr, policy="noeviction") == 1
    client = redis_server.client()
    client.config_set("maxmemory-policy", "volatile-lru")
    client.set("painel:expiring", "x", ex=3600)
    client.set("painel:kept", "x")
    # every slot taken: the next connection is refused (and counted) by the server
    client.config_set("maxclients", client.info("clients")["connected_clients"])
    with socket.create_connection(("127.0.0.1", redis_server.port), timeout=5) as refused:
        assert refused.recv(100).startswith(b"-ERR max number of clients reached")
    client.config_set("maxclients", 50)

    after = exporter.scrape()
    policies = [s for f in after.families.values() for s in f.samples if "policy" in s.labels]
    assert [(s.name, s.labels["policy"], s.value) for s in policies] == [
        ("redis_maxmemory_policy_info", "volatile-lru", 1)
    ]
    assert after.value("redis_db_keys_expiring", addr=addr, db="db0") == 1
    assert after.value("redis_db_keys", addr=addr, db="db0") == 2
    assert after.value("redis_config_maxclients", addr=addr) == 50
    rejected = after.value("redis_rejected_connections_total", addr=addr)
    assert rejected - before.value("redis_rejected_connections_total", addr=addr) == 1
    assert undocumented(after, ("redis_",)) == []


def test_killed_server_reads_down_fast_then_recovers(redis_server, exporter_for):
    exporter = exporter_for("--redis-url", redis_server.url)
    addr = redis_server.addr
    exporter.wait_for(lambda s: s.value("redis_up", addr=addr) == 1)

    redis_server.kill()
    started = time.monotonic()
    down = exporter.scrape()
    assert time.monotonic() - started < 1.0
    assert down.value("redis_up", addr=addr) == 0
    assert down.value("redis_keyspace_hits_total", addr=addr) is None
    assert down.value("node_load1") is None  # only the collectors asked for
    assert "down" in exporter.get("/").body

    redis_server.start()
    back = exporter.wait_for(lambda s: s.value("redis_up", addr=addr) == 1)
    assert back.value("redis_uptime_in_seconds", addr=addr) is not None


def test_hung_server_does_not_delay_the_others(tmp_path_factory, shared_redis, exporter_for):
    hung = RedisServer(tmp_path_factory.mktemp("redis-hung")).start()
    try:
        exporter = exporter_for("--redis-url", hung.url, "--redis-url", shared_redis.url)
        exporter.wait_for(lambda s: s.value("redis_up", addr=hung.addr) == 1)
        hung.process.signal(signal.SIGSTOP)  # accepts connections, never answers
        for _ in range(3):  # again and again: no pile-up of stuck round trips
            started = time.monotonic()
            scrape = exporter.scrape()
            assert time.monotonic() - started < 1.0
            assert scrape.value("redis_up", addr=hung.addr) == 0
            assert scrape.value("redis_up", addr=shared_redis.addr) == 1
        hung.process.signal(signal.SIGCONT)
        exporter.wait_for(lambda s: s.value("redis_up", addr=hung.addr) == 1)
    finally:
        hung.process.signal(signal.SIGCONT)
        hung.stop()


def test_password_never_shows(tmp_path_factory, exporter_for):
    password = "s3cret-Pa55"
    server = RedisServer(tmp_path_factory.mktemp("redis-auth"))
    server.start()
    try:
        server.client().config_set("requirepass", password)
        good = f"redis://:{password}@127.0.0.1:{server.port}/0"
        wrong_password = "not-" + password
        bad = f"redis://:{wrong_password}@127.0.0.1:{server.port}/1"
        exporter = exporter_for("--redis-url", good, env={"PAINEL_EXPORTER_LOG_LEVEL": "debug"})
        scrape = exporter.wait_for(lambda s: s.value("redis_up", addr=server.addr) == 1)
        page = exporter.get("/").body
        assert password not in scrape.text and password not in page
        assert f"127.0.0.1:{server.port}" in page

        other = exporter_for("--redis-url", bad, env={"PAINEL_EXPORTER_LOG_LEVEL": "debug"})
        assert other.scrape().value("redis_up", addr=server.addr) == 0
        page = other.get("/").body
        assert "down" in page and wrong_password not in page
        for log in (exporter.log(), other.log()):
            assert password not in log
    finally:
        server.stop()


def test_unix_socket_server_is_labelled_by_its_path(tmp_path, exporter_for):
    socket_path = tmp_path / "redis.sock"
    argv = ["redis-server", "--port", "0", "--unixsocket", str(socket_path)]
    argv += ["--save", "", "--appendonly", "no", "--dir", str(tmp_path)]
    server = ManagedProcess("redis-unix", argv, tmp_path).start(
        ready=lambda: wait_until(socket_path.exists, 10, 0.05, what=f"{socket_path}")
    )
    try:
        exporter = exporter_for("--redis-url", f"unix://{socket_path}")
        scrape = exporter.wait_for(lambda s: s.value("redis_up", addr=str(socket_path)) == 1)
        assert scrape.value("redis_connected_clients", addr=str(socket_path)) >= 1
    finally:
        server.stop()
