"""HTTP: /metrics in the format the scraper asks for, a landing page at /, optional auth.

The stdlib ThreadingHTTPServer with prometheus_client's encoders: prometheus_client's own
server takes no auth, and a scrape must not wait behind a slow landing page or another
scrape, hence one thread per request.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import html
import logging
import socket
import ssl
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from prometheus_client.exposition import choose_encoder

from exporter.collectors.base import Collector
from exporter.credentials import scrub_known
from exporter.scrape import OneScrape, Scraper
from exporter.throttled_log import ThrottledWarning
from exporter.web.config import WebConfig, WebConfigFile
from exporter.web.tls import peer_sans
from painel import VERSION
from painel.auth import HttpAuth

log = logging.getLogger("painel.exporter.server")
SEND_MARGIN = 0.1  # seconds kept from Prometheus's scrape timeout to encode and send
HANDSHAKE_TIMEOUT = 10.0  # a client that connects and says nothing holds a thread this long
# What Go's net/http (so node_exporter) answers a plain-HTTP request on a TLS port.
PLAIN_HTTP_ANSWER = (
    b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Connection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
)


class ExporterServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        host: str,
        port: int,
        scraper: Scraper,
        extras: Sequence[object],
        auth: HttpAuth,
        web: WebConfigFile | None = None,
    ) -> None:
        if ":" in host:
            self.address_family = socket.AF_INET6
        self.scraper = scraper
        self.extras = extras  # collectors outside the scrape, such as process metrics
        self.auth = auth
        self.web = web
        self._handshake_failed = ThrottledWarning(log)
        super().__init__((host, port), _Handler)

    def finish_request(self, request, client_address) -> None:
        """On a TLS listener, the handshake, in the connection's own thread, with the
        configuration current at that moment (a renewed certificate applies at once)."""
        if self.web is None or not self.web.tls:
            super().finish_request(request, client_address)
            return
        config = self.web.current()
        assert config.ssl_context is not None  # tls is fixed at start
        request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            first = request.recv(1, socket.MSG_PEEK)
            if first and first != b"\x16":  # not a TLS handshake record: plain HTTP
                request.recv(65536)  # read what it sent, so closing does not reset the answer
                request.sendall(PLAIN_HTTP_ANSWER)
                return
            if not first:
                return
            tls_socket = config.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            self._handshake_failed(
                "TLS handshake with %s failed: %s", client_address[0], _reason(exc)
            )
            return
        with tls_socket:
            if (
                config.allowed_sans
                and not peer_sans(tls_socket.getpeercert()) & config.allowed_sans
            ):
                self._handshake_failed(
                    "TLS client %s refused: its certificate names none of client_allowed_sans",
                    client_address[0],
                )
                return
            super().finish_request(tls_socket, client_address)

    def web_config(self) -> WebConfig | None:
        return self.web.current() if self.web is not None else None


def _reason(exc: Exception) -> str:
    if isinstance(exc, ssl.SSLError):
        return exc.reason or exc.strerror or str(exc)
    return str(exc) if not isinstance(exc, OSError) else (exc.strerror or str(exc))


class _Handler(BaseHTTPRequestHandler):
    server: ExporterServer
    server_version = f"painel-exporter/{VERSION}"
    # Keep-alive, as Prometheus reuses its connection between scrapes; an idle one is
    # closed after `timeout` seconds so that vanished clients do not hold threads.
    protocol_version = "HTTP/1.1"
    timeout = 120

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self._web = self.server.web_config()  # one configuration for the whole request
        if not self._authorized():
            self._send(
                401,
                b"Unauthorized\n",
                "text/plain; charset=utf-8",
                {"WWW-Authenticate": self._challenge()},
            )
            return
        path = urlsplit(self.path).path
        if path == "/metrics":
            self._metrics()
        elif path == "/":
            body = landing_page(self.server.scraper).encode()
            self._send(200, body, "text/html; charset=utf-8")
        else:
            self._send(404, b"Not found: try / or /metrics\n", "text/plain; charset=utf-8")

    def _authorized(self) -> bool:
        """Any configured credential lets the request in: --bearer-token, --basic-auth or a
        user of basic_auth_users; with none configured, every request does."""
        auth, users = self.server.auth, self._web.users if self._web else None
        if not auth.required and not users:
            return True
        header = self.headers.get("Authorization")
        if auth.required and auth.allows(header):
            return True
        scheme, _, credentials = (header or "").strip().partition(" ")
        if not users or scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(credentials.strip()).decode().partition(":")
        except (binascii.Error, ValueError):
            return False
        return users.check(user, password)

    def _challenge(self) -> str:
        challenge = self.server.auth.challenge()
        if self._web and self._web.users and self.server.auth.basic is None:
            basic = 'Basic realm="painel-exporter"'
            challenge = f"{challenge}, {basic}" if challenge else basic
        return challenge

    def _metrics(self) -> None:
        encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
        scrape = OneScrape(self.server.scraper, self.server.extras, self._deadline())
        try:
            body = encoder(scrape)
        except Exception:  # a bug in one family's samples: say so rather than hang up
            log.exception("/metrics could not be encoded")
            self._send(500, b"/metrics failed; see the exporter's log\n", "text/plain")
            return
        headers = {}
        if "gzip" in self.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body, compresslevel=1)  # level 1: scrapes are latency-bound
            headers["Content-Encoding"] = "gzip"
        self._send(200, body, content_type, headers)

    def _deadline(self) -> float | None:
        """Prometheus's own scrape timeout, less time to encode and send, when shorter."""
        try:
            given = float(self.headers.get("X-Prometheus-Scrape-Timeout-Seconds", ""))
        except ValueError:
            return None
        return max(0.05, given - SEND_MARGIN) if given > 0 else None

    def _send(
        self, code: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        web = getattr(self, "_web", None)
        for name, value in {**(web.headers if web else {}), **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), format % args)


def landing_page(scraper: Scraper) -> str:
    """Collectors, their targets (credentials already masked by each collector), last results."""
    results = scraper.last_results()
    sections = [_collector_section(c, results.get(c.name)) for c in scraper.collectors]
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>painel-exporter</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}"
        ".ok{color:#060}.fail{color:#a00}</style></head><body>"
        f"<h1>painel-exporter {html.escape(VERSION)}</h1>"
        "<p><a href='/metrics'>/metrics</a></p>" + "".join(sections) + "</body></html>"
    )
    return scrub_known(page)  # in case a collector's error text quoted a URL whole


def _collector_section(collector: Collector, result) -> str:
    if result is None:
        last = "not scraped yet"
    elif result.success:
        last = f"<span class='ok'>ok</span> in {result.duration:.3f}s"
    else:
        last = f"<span class='fail'>failed</span>: {html.escape(result.error)}"
    if result is not None:
        last += f" at {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(result.finished_at))} UTC"
    try:
        status = dict(collector.status())
    except Exception as exc:  # a broken status() must not take the page down
        status = {"status": f"unavailable ({type(exc).__name__})"}
    targets = status.pop("targets", [])
    rows = "".join(
        f"<tr><td>{html.escape(str(t.get('target', '')))}</td>"
        f"<td>{html.escape(str(t.get('result', '')))}</td></tr>"
        for t in targets
        if isinstance(t, dict)
    )
    table = f"<table><tr><th>target</th><th>last result</th></tr>{rows}</table>" if rows else ""
    extra = "".join(
        f"<li>{html.escape(str(k))}: {html.escape(str(v))}</li>" for k, v in status.items()
    )
    return (
        f"<h2>{html.escape(collector.name)}</h2><p>last scrape: {last}</p>"
        + (f"<ul>{extra}</ul>" if extra else "")
        + table
    )
