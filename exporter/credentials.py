"""Credentials never leave the process: URLs as the landing page, labels, logs and errors
show them.

redis_exporter leaves the address out of its error logs because a URL may carry a
password (oliver006/redis_exporter#638); painel masks the secret instead, so the log says
which target failed without saying how to log in to it.
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import SplitResult, parse_qsl, unquote, urlencode, urlsplit, urlunsplit

MASK = "***"
# Query parameters that carry secrets in redis-py, kombu and common HTTP URLs.
_SECRET_PARAMS = frozenset({"password", "pass", "passwd", "token", "access_token", "secret", "key"})


# Every secret seen in a target URL or the auth flags: the last line of defence scrubs
# them from log records and the landing page, whatever library put them there.
_known_secrets: set[str] = set()
_known_lock = threading.Lock()


def remember_secret(secret: str) -> None:
    if secret:
        with _known_lock:
            _known_secrets.add(secret)


def mask_url(url: str) -> str:
    """The URL with its password (userinfo or query parameter) replaced by ***.

    The secrets are remembered too, for scrub_known() and the logging filter.
    """
    secrets = secrets_of(url)
    if not secrets:
        return url  # nothing to hide: keep it exactly as given
    for secret in secrets:
        remember_secret(secret)
    parts = _split(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, sep, _password = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{hostport}" if sep else f"{user}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        masked = [(k, MASK if k.lower() in _SECRET_PARAMS else v) for k, v in pairs]
        query = urlencode(masked, safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def secrets_of(url: str) -> list[str]:
    """Every secret string in the URL (raw and percent-decoded), to scrub from messages."""
    parts = _split(url)
    found: list[str] = []
    if "@" in parts.netloc:
        userinfo = parts.netloc.rpartition("@")[0]
        _user, sep, password = userinfo.partition(":")
        found.append(password if sep else "")
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key.lower() in _SECRET_PARAMS:
            found.append(value)
    secrets = [s for s in found if s]
    return [*secrets, *(unquote(s) for s in secrets if unquote(s) != s)]


def _split(url: str) -> SplitResult:
    """urlsplit, or for a URL it rejects (an unclosed IPv6 bracket) the same split by hand.

    A bad URL is reported at start-up with the URL masked, so masking must not fail on it.
    """
    try:
        return urlsplit(url)
    except ValueError:
        scheme, sep, rest = url.partition("://")
        if not sep:
            scheme, rest = "", url
        rest, _, fragment = rest.partition("#")
        rest, _, query = rest.partition("?")
        netloc, slash, path = rest.partition("/")
        return SplitResult(scheme, netloc, slash + path, query, fragment)


def scrub(message: str, url: str) -> str:
    """The message (an exception text, a log line) with every secret of `url` masked."""
    for secret in sorted(secrets_of(url), key=len, reverse=True):
        message = message.replace(secret, MASK)
    return message


def scrub_known(text: str) -> str:
    """The text with every remembered secret masked."""
    with _known_lock:
        secrets = sorted(_known_secrets, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


class ScrubSecretsFilter(logging.Filter):
    """A handler filter: no log record, ours or a library's, carries a known secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a library's bad format arguments: keep the record, scrubbed
            message = f"{record.msg} (arguments that did not fit: {record.args!r})"
            record.msg, record.args = message, None
        scrubbed = scrub_known(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        if record.exc_info and not record.exc_text:
            record.exc_text = scrub_known(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = scrub_known(record.stack_info)
        return True
