"""Redis servers, read with one PING and one pipelined CONFIG GET + INFO ALL per scrape,
under redis_exporter's names (the mapping is in info.py).

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
from prometheus_client.core import GaugeMetricFamily, Metric
from redis.backoff import NoBackoff
from redis.retry import Retry

from exporter.collectors.base import Collector, ConfigError
from exporter.collectors.redis.info import CONFIG_GAUGES, InfoFamilies
from exporter.config import seconds
from exporter.credentials import mask_url, scrub
from exporter.single_flight import SingleFlight

NAME = "redis"
CONFIG_PARAMETERS = ("databases", *CONFIG_GAUGES)
log = logging.getLogger("painel.exporter.redis")

try:  # redis-py 7+ probes every new connection for maintenance notifications: not ours
    from redis.maint_notifications import MaintNotificationsConfig

    _QUIET_CONNECT = {"maint_notifications_config": MaintNotificationsConfig(enabled=False)}
except ImportError:
    _QUIET_CONNECT = {}


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
    """One poll of one server: PING, then CONFIG GET and INFO ALL in one round trip."""

    up: bool
    info: dict[str, Any] = field(default_factory=dict)
    config: dict[str, str] = field(default_factory=dict)
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
            pipe = self.client.pipeline(transaction=False)
            for parameter in CONFIG_PARAMETERS:  # one at a time: Redis before 7 takes one
                pipe.config_get(parameter)
            pipe.info("all")
            *configs, info = pipe.execute(raise_on_error=False)
        except (redis.RedisError, OSError) as exc:
            return Poll(False, error=scrub(f"{type(exc).__name__}: {exc}", self.url))
        if isinstance(info, Exception):
            return Poll(False, error=scrub(f"{type(info).__name__}: {info}", self.url))
        # CONFIG may be renamed or refused (managed Redis): then Redis's defaults apply
        config = {k: v for c in configs if isinstance(c, dict) for k, v in c.items()}
        return Poll(True, info, config, latency)


class RedisCollector(Collector):
    name = NAME
    counts_own_events = False  # copies of Redis' own counters

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
        self.info = InfoFamilies()

    def add(self, addr: str, poll: Poll) -> None:
        self.up.add_metric([addr], 1.0 if poll.up else 0.0)
        if poll.up:
            self.latency.add_metric([addr], poll.latency or 0.0)
            self.info.add(addr, poll.info, poll.config)

    def all(self) -> list[Metric]:
        return [self.up, self.latency, *self.info.all()]
