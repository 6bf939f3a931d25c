"""Fixtures shared by the whole suite: real services on free ports.

Package-specific fixtures live in conftest.py files beside their tests; what more than one
package needs lives here and in tests/support/.
"""

from __future__ import annotations

import pytest

from local_services.redis import RedisServer


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
