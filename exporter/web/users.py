"""basic_auth_users: bcrypt-hashed passwords, verified once per credential and then cached.

bcrypt costs tens of milliseconds by design; paying that on every scrape of every
Prometheus would make the exporter's CPU follow the scrape rate. Like exporter-toolkit,
the outcome is cached per (user, hash, password), the password kept only as a digest.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping

import bcrypt

from exporter.collectors.base import ConfigError

CACHE_SIZE = 256  # outcomes kept; emptied when full, so wrong guesses cannot grow it
# Checked for an unknown user, so that the time taken does not tell which users exist.
_DUMMY_HASH = bcrypt.hashpw(b"painel-dummy", bcrypt.gensalt(rounds=10))


def parse_users(value: object) -> dict[str, bytes]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError("basic_auth_users: a mapping of user names to bcrypt hashes")
    users: dict[str, bytes] = {}
    for user, hashed in value.items():
        if not isinstance(user, str) or not user or ":" in user:
            raise ConfigError(f"basic_auth_users: {user!r} is not a user name (no colon)")
        if not isinstance(hashed, str) or not hashed.startswith(("$2a$", "$2b$", "$2y$")):
            raise ConfigError(
                f"basic_auth_users.{user}: not a bcrypt hash (like $2y$10$...); "
                "make one with: htpasswd -nBC 10 '' | tr -d ':\\n'"
            )
        encoded = hashed.encode()
        try:  # a malformed hash fails here, at load, not on the first scrape
            bcrypt.checkpw(b"", encoded)
        except ValueError:
            raise ConfigError(f"basic_auth_users.{user}: a malformed bcrypt hash") from None
        users[user] = encoded
    return users


class BcryptUsers:
    def __init__(self, users: Mapping[str, bytes]) -> None:
        self.users = dict(users)
        self._cache: dict[bytes, bool] = {}
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self.users)

    def check(self, user: str, password: str) -> bool:
        hashed = self.users.get(user)
        key = hashlib.sha256(b"\0".join([user.encode(), hashed or b"", password.encode()])).digest()
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        ok = bcrypt.checkpw(password.encode(), hashed or _DUMMY_HASH) and hashed is not None
        with self._lock:
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = ok
        return ok
