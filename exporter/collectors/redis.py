"""Redis servers, read with one INFO ALL per scrape, under redis_exporter's names.

Every series carries `addr` (host:port or the socket path, never a password). Each target
is polled on its own thread with short socket timeouts, so one that hangs reports
redis_up 0 after --redis-timeout while the others answer as usual; redis-py reconnects on
the next scrape, so a server that comes back is picked up without a restart.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from typing import Any

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from redis.backoff import NoBackoff
from redis.retry import Retry

from exporter.collector import Collector, ConfigError
from exporter.config import seconds
from exporter.single_flight import SingleFlight
from exporter.targets import mask_url, scrub

NAME = "redis"
log = logging.getLogger("painel.exporter.redis")

try:  # redis-py 7+ probes every new connection for maintenance notifications: not ours
    from redis.maint_notifications import MaintNotificationsConfig

    _QUIET_CONNECT = {"maint_notifications_config": MaintNotificationsConfig(enabled=False)}
except ImportError:
    _QUIET_CONNECT = {}

# INFO field -> (metric name, help); gauges and counters as redis_exporter types them.
_GAUGES = {
    "uptime_in_seconds": ("redis_uptime_in_seconds", "Seconds since the server started."),
    "connected_clients": ("redis_connected_clients", "Client connections open now."),
    "used_memory": ("redis_memory_used_bytes", "Memory allocated by Redis, in bytes."),
    "maxmemory": ("redis_memory_max_bytes", "The maxmemory setting, in bytes (0: no limit)."),
    "maxclients": ("redis_config_maxclients", "The maxclients setting."),
}
_COUNTERS = {
    "keyspace_hits": ("redis_keyspace_hits_total", "Key lookups that found the key."),
    "keyspace_misses": ("redis_keyspace_misses_total", "Key lookups that missed the key."),
    "total_commands_processed": (
        "redis_commands_processed_total",
        "Commands processed by the server.",
    ),
    "expired_keys": ("redis_expired_keys_total", "Keys removed because their TTL expired."),
    "evicted_keys": ("redis_evicted_keys_total", "Keys evicted because of maxmemory."),
    "rejected_connections": (
        "redis_rejected_connections_total",
        "Connections refused because maxclients was reached.",
    ),
}


def add_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--redis-url",
        action="append",
        default=[],
        metavar="URL",
        help="a Redis server to watch, like redis://:PASSWORD@host:6379/0, rediss://... "
        "or unix:///run/redis.sock (repeatable)",
    )
    parser.add_argument(
        "--redis-timeout",
        type=seconds,
        default=0.5,
        metavar="SECONDS",
        help="connect and reply timeout per server; a server slower than this reports "
        "redis_up 0 (default %(default)s)",
    )


def has_target(args: argparse.Namespace) -> bool:
    return bool(args.redis_url)


def build(args: argparse.Namespace) -> list[Collector]:
    targets = [RedisTarget(url, args.redis_timeout) for url in args.redis_url]
    addrs = [t.addr for t in targets]
    for addr in addrs:
        if addrs.count(addr) > 1:
            raise ConfigError(
                f"--redis-url: two URLs point at {addr}; give each server once "
                "(INFO is per server, not per database)"
            )
    if args.redis_timeout >= args.scrape_timeout:
        log.warning(
            "--redis-timeout %g is not below --scrape-timeout %g: a hanging Redis will fail "
            "the whole redis collector for a scrape instead of reading redis_up 0",
            args.redis_timeout,
            args.scrape_timeout,
        )
    return [RedisCollector(targets, args.redis_timeout)]


@dataclass
class Poll:
    """One round trip to one server."""

    up: bool
    info: dict[str, Any] = field(default_factory=dict)
    latency: float | None = None
    error: str = ""


class RedisTarget:
    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.masked = mask_url(url)
        if not url.strip():
            raise ConfigError("--redis-url: empty; give a URL like redis://localhost:6379")
        try:
            pool = redis.ConnectionPool.from_url(
                url,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                # one try per scrape: redis-py's default retries would triple a hang
                retry=Retry(NoBackoff(), 0),
                # no CLIENT SETINFO on connect: nothing of ours in the server's stats
                lib_name=None,
                lib_version=None,
                **_QUIET_CONNECT,
            )
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"--redis-url {self.masked}: {scrub(str(exc), url)}") from None
        kwargs = pool.connection_kwargs
        self.addr = (
            kwargs.get("path") or f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
        )
        self.client = redis.Redis(connection_pool=pool)
        self.last: Poll | None = None

    def poll(self) -> Poll:
        try:
            started = time.perf_counter()
            self.client.ping()
            latency = time.perf_counter() - started
            info = self.client.info("all")
        except (redis.RedisError, OSError) as exc:
            return Poll(False, error=scrub(f"{type(exc).__name__}: {exc}", self.url))
        return Poll(True, info, latency)


class RedisCollector(Collector):
    name = NAME

    def __init__(self, targets: list[RedisTarget], timeout: float) -> None:
        self.targets = targets
        self.timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=len(targets), thread_name_prefix="redis")
        self._polls = SingleFlight(self._pool)  # a busy server is waited on, not polled twice

    def stop(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def status(self) -> dict:
        rows = []
        for target in self.targets:
            last = target.last
            if last is None:
                result = "not polled yet"
            elif last.up:
                result = f"up, {last.latency * 1000:.1f} ms round trip"
            else:
                result = f"down: {last.error}"
            rows.append({"target": target.masked, "result": result})
        return {"targets": rows}

    def collect(self) -> Iterable[Metric]:
        runs = {t.addr: self._polls.run(t.addr, t.poll) for t in self.targets}
        wait_futures(runs.values(), timeout=self.timeout)
        families = _Families()
        for target in self.targets:
            run = runs[target.addr]
            poll = (
                run.result()
                if run.done()
                else Poll(False, error=f"no answer within {self.timeout:g}s")
            )
            self._remember(target, poll)
            families.add(target.addr, poll)
        return families.all()

    @staticmethod
    def _remember(target: RedisTarget, poll: Poll) -> None:
        previous, target.last = target.last, poll
        if not poll.up and (previous is None or previous.up or previous.error != poll.error):
            log.warning("redis %s is down: %s", target.masked, poll.error)
        elif poll.up and previous is not None and not previous.up:
            log.info("redis %s is back up", target.masked)


class _Families:
    """The metric families of one scrape, filled target by target."""

    def __init__(self) -> None:
        self.up = GaugeMetricFamily(
            "redis_up", "1 when the server answered this scrape, else 0.", labels=["addr"]
        )
        self.latency = GaugeMetricFamily(
            "redis_latency_seconds",
            "Round trip of a PING from the exporter, in seconds.",
            labels=["addr"],
        )
        self.gauges = {
            field: GaugeMetricFamily(name, help_, labels=["addr"])
            for field, (name, help_) in _GAUGES.items()
        }
        self.counters = {
            field: CounterMetricFamily(name, help_, labels=["addr"])
            for field, (name, help_) in _COUNTERS.items()
        }
        self.db_keys = GaugeMetricFamily(
            "redis_db_keys", "Keys in each database.", labels=["addr", "db"]
        )
        self.db_keys_expiring = GaugeMetricFamily(
            "redis_db_keys_expiring", "Keys with a TTL in each database.", labels=["addr", "db"]
        )
        # the policy decides whether a full Redis evicts (a cache) or refuses writes
        self.maxmemory_policy = GaugeMetricFamily(
            "redis_maxmemory_policy_info",
            "Always 1; the maxmemory-policy setting in the policy label.",
            labels=["addr", "policy"],
        )
        self.commands = CounterMetricFamily(
            "redis_commands_total", "Calls of each command.", labels=["addr", "cmd"]
        )
        self.command_seconds = CounterMetricFamily(
            "redis_commands_duration_seconds_total",
            "Seconds the server spent in each command.",
            labels=["addr", "cmd"],
        )

    def add(self, addr: str, poll: Poll) -> None:
        self.up.add_metric([addr], 1.0 if poll.up else 0.0)
        if not poll.up:
            return
        info = poll.info
        self.latency.add_metric([addr], poll.latency or 0.0)
        for key, family in self.gauges.items():
            if key in info:
                family.add_metric([addr], float(info[key]))
        for key, family in self.counters.items():
            if key in info:
                family.add_metric([addr], float(info[key]))
        # db0 always, so that an emptied database reads 0 rather than vanishing
        databases = {"db0": {"keys": 0}}
        databases.update({k: v for k, v in info.items() if _is_db(k, v)})
        for db, stats in sorted(databases.items()):
            self.db_keys.add_metric([addr, db], float(stats.get("keys", 0)))
            self.db_keys_expiring.add_metric([addr, db], float(stats.get("expires", 0)))
        if "maxmemory_policy" in info:
            self.maxmemory_policy.add_metric([addr, str(info["maxmemory_policy"])], 1.0)
        for key, stats in info.items():
            if key.startswith("cmdstat_") and isinstance(stats, dict):
                cmd = key[len("cmdstat_") :]
                self.commands.add_metric([addr, cmd], float(stats.get("calls", 0)))
                self.command_seconds.add_metric([addr, cmd], float(stats.get("usec", 0)) / 1e6)

    def all(self) -> list[Metric]:
        return [
            self.up,
            self.latency,
            *self.gauges.values(),
            *self.counters.values(),
            self.db_keys,
            self.db_keys_expiring,
            self.maxmemory_policy,
            self.commands,
            self.command_seconds,
        ]


def _is_db(key: str, value: object) -> bool:
    return key.startswith("db") and key[2:].isdigit() and isinstance(value, dict)
