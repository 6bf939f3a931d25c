"""Health checks: database, cache and Celery broker detected from settings, more pluggable.

A check is a callable that returns when the component answers and raises when it does not.
Each runs in a worker thread and is given PAINEL['HEALTH_TIMEOUT'] seconds; a check that
is still running from an earlier call is reported as failing instead of being started again,
so a hung dependency holds at most one thread per check.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import redis
from django.conf import settings as django_settings

from .conf import Settings

# redis is imported at module level, once, at start-up: the cache and broker checks run in two threads,
# and two threads importing redis-py for the first time at once can get a half-initialised
# module (its circular imports): every worker's first /health answered 503.

Check = Callable[[], Any]


def check_database(alias: str) -> None:
    from django.db import connections

    connection = connections[alias]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        # Connections are per thread; close it so a health thread never holds one open.
        connection.close()


def check_cache(alias: str) -> None:
    from django.core.cache import caches

    # A read reaches the server (Redis, memcached...) without writing anything.
    caches[alias].get("painel:health")


def check_broker(url: str, timeout: float) -> None:
    scheme = urlsplit(url).scheme
    if scheme in ("redis", "rediss", "unix"):
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            client.ping()
        finally:
            client.close()
        return
    from kombu import Connection

    with Connection(url, connect_timeout=timeout) as connection:
        connection.ensure_connection(max_retries=1)


def _named(prefix: str, alias: str) -> str:
    return prefix if alias == "default" else f"{prefix}_{alias}"


def configured_checks(settings: Settings) -> list[tuple[str, Check]]:
    """The checks this project's settings call for, in a stable order."""
    checks: list[tuple[str, Check]] = []
    for alias in getattr(django_settings, "DATABASES", {}):
        checks.append((_named("database", alias), partial(check_database, alias)))
    for alias, config in getattr(django_settings, "CACHES", {}).items():
        if "dummy" not in config.get("BACKEND", "").lower():
            checks.append((_named("cache", alias), partial(check_cache, alias)))
    broker = getattr(django_settings, "CELERY_BROKER_URL", None) or getattr(
        django_settings, "BROKER_URL", None
    )
    if broker:
        checks.append(("celery_broker", partial(check_broker, broker, settings.health_timeout)))
    checks.extend(settings.health_checks)
    return checks


def _timed(check: Check) -> tuple[float, str | None]:
    """(seconds taken, None) when the check passes, (seconds taken, error) when it raises."""
    start = time.perf_counter()
    try:
        check()
    except Exception as exc:
        return time.perf_counter() - start, f"{type(exc).__name__}: {exc}"[:300]
    return time.perf_counter() - start, None


_executor: ThreadPoolExecutor | None = None
_running: dict[str, Future] = {}
_lock = threading.Lock()


def _submit(name: str, check: Check, pool_size: int) -> Future | None:
    """Start the check, or None when its previous run has not finished yet."""
    global _executor
    with _lock:
        previous = _running.get(name)
        if previous is not None and not previous.done():
            return None
        if _executor is None:
            # Created on first use, so in each gunicorn worker rather than in the master.
            _executor = ThreadPoolExecutor(max(pool_size, 4), thread_name_prefix="painel-health")
        future = _running[name] = _executor.submit(_timed, check)
        return future


def run(settings: Settings) -> dict[str, Any]:
    """{"status": "ok"|"error", "components": {name: {"status", "latency_seconds", "error"?}}}"""
    checks = configured_checks(settings)
    timeout = settings.health_timeout
    futures = {name: _submit(name, check, len(checks)) for name, check in checks}
    wait_for([f for f in futures.values() if f is not None], timeout=timeout)
    components: dict[str, dict[str, Any]] = {}
    for name, future in futures.items():
        if future is None:
            components[name] = {
                "status": "error",
                "latency_seconds": timeout,
                "error": "the previous check has not finished yet",
            }
        elif not future.done():
            components[name] = {
                "status": "error",
                "latency_seconds": timeout,
                "error": f"no answer within {timeout:g}s",
            }
        else:
            latency, error = future.result()
            components[name] = {"status": "ok", "latency_seconds": round(latency, 6)}
            if error is not None:
                components[name].update(status="error", error=error)
    ok = all(component["status"] == "ok" for component in components.values())
    return {"status": "ok" if ok else "error", "components": components}
