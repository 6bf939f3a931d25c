"""HTTP: /metrics in the format the scraper asks for, a landing page at /, optional auth.

The stdlib ThreadingHTTPServer with prometheus_client's encoders: prometheus_client's own
server takes no auth, and a scrape must not wait behind a slow landing page or another
scrape, hence one thread per request.
"""

from __future__ import annotations

import gzip
import html
import logging
import socket
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from prometheus_client.exposition import choose_encoder

from exporter.collectors.base import Collector
from exporter.credentials import scrub_known
from exporter.scrape import OneScrape, Scraper
from painel import VERSION
from painel.auth import HttpAuth

log = logging.getLogger("painel.exporter.server")
SEND_MARGIN = 0.1  # seconds kept from Prometheus's scrape timeout to encode and send


class ExporterServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        host: str,
        port: int,
        scraper: Scraper,
        extras: Sequence[object],
        auth: HttpAuth,
    ) -> None:
        if ":" in host:
            self.address_family = socket.AF_INET6
        self.scraper = scraper
        self.extras = extras  # collectors outside the scrape, such as process metrics
        self.auth = auth
        super().__init__((host, port), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: ExporterServer
    server_version = f"painel-exporter/{VERSION}"
    # Keep-alive, as Prometheus reuses its connection between scrapes; an idle one is
    # closed after `timeout` seconds so that vanished clients do not hold threads.
    protocol_version = "HTTP/1.1"
    timeout = 120

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        if not self.server.auth.allows(self.headers.get("Authorization")):
            self._send(
                401,
                b"Unauthorized\n",
                "text/plain; charset=utf-8",
                {"WWW-Authenticate": self.server.auth.challenge()},
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
        for name, value in (headers or {}).items():
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
