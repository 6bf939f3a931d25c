"""Fixtures shared by the whole suite: real services on free ports.

Package-specific fixtures live in conftest.py files beside their tests; what more than one
package needs lives here and in tests/support/.
"""

from __future__ import annotations

import os

import pytest

from local_services.redis import RedisServer

# Tests read a counter right after its first event; the exporter's new-series hold would
# show 0 for a minute. The hold's own tests pass --max-scrape-interval.
os.environ.setdefault("PAINEL_EXPORTER_MAX_SCRAPE_INTERVAL", "0")


@pytest.fixture
def redis_server(tmp_path_factory):
    """A fresh redis-server for one test: stop it, kill it, restart it as you like."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def shared_redis(tmp_path_factory):
    """One redis-server for tests that only read and write keys; flush what you rely on."""
    server = RedisServer(tmp_path_factory.mktemp("redis-shared")).start()
    yield server
    server.stop()
