"""The web configuration file: parsed and checked whole, re-read when it or its files change.

exporter-toolkit reads the file on every request and handshake, so a renewed certificate or
a changed password applies without a restart. Here the file and the files it names are
stat()ed instead, and parsed again only when one changed: a few syscalls per connection.
An edit that does not load keeps the last good configuration, and says why in the log.
"""

from __future__ import annotations

import logging
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from exporter.collectors.base import ConfigError
from exporter.web import tls as tls_config
from exporter.web.users import BcryptUsers, parse_users

log = logging.getLogger("painel.exporter.web")

TOP_KEYS = {"tls_server_config", "http_server_config", "basic_auth_users", "rate_limit"}
HEADERS = {
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "X-XSS-Protection",
    "Strict-Transport-Security",
}


@dataclass(frozen=True)
class WebConfig:
    ssl_context: ssl.SSLContext | None
    allowed_sans: frozenset[str]
    users: BcryptUsers
    headers: dict[str, str]


def load(path: Path) -> tuple[WebConfig, list[Path]]:
    """The configuration and every file it was built from; ConfigError saying what to fix."""
    try:
        doc: Any = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read it: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}" if where else ""
        raise ConfigError(f"not valid YAML{at}") from None
    doc = {} if doc is None else doc  # an empty file: no TLS, no auth, as exporter-toolkit
    if not isinstance(doc, dict):
        raise ConfigError("the file must be a YAML mapping (tls_server_config:, basic_auth_users:)")
    unknown = sorted(set(doc) - TOP_KEYS)
    if unknown:
        raise ConfigError(f"unknown field {unknown[0]!r}; known: {', '.join(sorted(TOP_KEYS))}")
    base = path.parent
    tls = doc.get("tls_server_config")
    if tls is not None and not isinstance(tls, dict):
        raise ConfigError("tls_server_config: a mapping (cert_file:, key_file:, ...)")
    files = [path]
    context, sans = None, frozenset()
    if tls:
        context, sans = tls_config.build_context(tls, base), tls_config.allowed_sans(tls)
        files += tls_config.files_of(tls, base)
    return WebConfig(
        context,
        sans,
        BcryptUsers(parse_users(doc.get("basic_auth_users"))),
        _headers(doc.get("http_server_config")),
    ), files


def _headers(http: object) -> dict[str, str]:
    if http is None:
        return {}
    if not isinstance(http, dict):
        raise ConfigError("http_server_config: a mapping (headers:)")
    unknown = sorted(set(http) - {"headers", "http2"})
    if unknown:
        raise ConfigError(f"http_server_config: unknown field {unknown[0]!r}")
    headers = http.get("headers") or {}
    if not isinstance(headers, dict):
        raise ConfigError("http_server_config.headers: a mapping of header names to values")
    for name, value in headers.items():
        if name not in HEADERS:
            raise ConfigError(
                f"http_server_config.headers: {name!r} cannot be set; allowed: {', '.join(sorted(HEADERS))}"
            )
        if not isinstance(value, str) or "\n" in value or "\r" in value:
            raise ConfigError(f"http_server_config.headers.{name}: a one-line string")
    return {k: v for k, v in headers.items() if v}  # blank: unset, as exporter-toolkit


def _fingerprint(files: list[Path]) -> tuple:
    marks = []
    for file in files:
        try:
            st = file.stat()
            marks.append((st.st_mtime_ns, st.st_size, st.st_ino))
        except OSError:
            marks.append(None)
    return tuple(marks)


class WebConfigFile:
    """The current configuration of one --web.config.file; current() reloads on change."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._config, self._files = load(self.path)
        except ConfigError as exc:
            raise ConfigError(f"--web.config.file {self.path}: {exc}") from None
        self._mark = _fingerprint(self._files)
        self._failed_mark: tuple | None = None  # an edit already reported as bad
        self._lock = threading.Lock()
        self._warn_ignored()

    @property
    def tls(self) -> bool:
        """Fixed at start: a listener cannot switch between HTTP and HTTPS under its clients."""
        return self._config.ssl_context is not None

    def current(self) -> WebConfig:
        mark = _fingerprint(self._files)
        if mark == self._mark:
            return self._config
        with self._lock:
            mark = _fingerprint(self._files)  # another thread may have reloaded meanwhile
            if mark != self._mark and mark != self._failed_mark:
                self._reload(mark)
            return self._config

    def _reload(self, mark: tuple) -> None:
        try:
            config, files = load(self.path)
            if (config.ssl_context is not None) != self.tls:
                raise ConfigError(
                    "adding or removing tls_server_config needs a restart of the exporter"
                )
        except ConfigError as exc:
            log.error(
                "--web.config.file %s: %s; keeping the last good configuration", self.path, exc
            )
            self._failed_mark = mark
            return
        # the files may have changed again while loading: the next call compares again
        self._config, self._files = config, files
        self._mark, self._failed_mark = _fingerprint(files), None
        log.info("--web.config.file %s reloaded", self.path)
        self._warn_ignored()

    def _warn_ignored(self) -> None:
        try:
            doc = yaml.safe_load(self.path.read_text()) or {}
        except (OSError, yaml.YAMLError):
            return
        ignored = []
        if doc.get("rate_limit"):
            ignored.append("rate_limit")
        if (doc.get("tls_server_config") or {}).get("curve_preferences"):
            ignored.append("tls_server_config.curve_preferences (OpenSSL's defaults apply)")
        if (doc.get("http_server_config") or {}).get("http2"):
            ignored.append("http_server_config.http2 (HTTP/1.1 only)")
        if ignored:
            log.warning(
                "--web.config.file %s: ignored by painel-exporter: %s",
                self.path,
                ", ".join(ignored),
            )
