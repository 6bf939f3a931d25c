"""painel-exporter / python -m exporter: parse flags, start collectors, serve until SIGTERM."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence

from prometheus_client import ProcessCollector

from exporter.collectors.base import ConfigError
from exporter.config import load
from exporter.credentials import ScrubSecretsFilter
from exporter.scrape import Scraper
from exporter.server import ExporterServer
from painel import VERSION
from painel.auth import HttpAuth

log = logging.getLogger("painel.exporter")


def main(argv: Sequence[str] | None = None) -> int:
    # logging first, so that warnings while the collectors are built read like the rest
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(ScrubSecretsFilter())
    try:
        settings = load(argv)
    except ConfigError as exc:
        print(f"painel-exporter: error: {exc}", file=sys.stderr)
        return 2
    logging.getLogger().setLevel(settings.args.log_level.upper())
    scraper = Scraper(
        settings.collectors,
        timeout=settings.args.scrape_timeout,
        max_scrape_interval=settings.args.max_scrape_interval,
    )
    extras = [ProcessCollector(registry=None)]  # the exporter's own CPU, memory and fds
    try:
        server = ExporterServer(
            settings.host,
            settings.port,
            scraper,
            extras,
            HttpAuth(settings.basic_auth, settings.bearer_token, realm="painel-exporter"),
            settings.web,
        )
    except OSError as exc:
        print(
            f"painel-exporter: error: cannot listen on {settings.args.listen}: "
            f"{exc.strerror or exc}; choose another --listen",
            file=sys.stderr,
        )
        return 1
    for collector in settings.collectors:
        collector.start()
    # serve_forever runs on the main thread; a signal handler may not call shutdown()
    # there (it would wait for itself), so it asks from a helper thread.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: threading.Thread(target=server.shutdown).start())
    host, port = server.server_address[:2]
    log.info(
        "painel-exporter %s listening on %s://%s:%s with collectors %s",
        VERSION,
        "https" if settings.web is not None and settings.web.tls else "http",
        host,
        port,
        ", ".join(c.name for c in settings.collectors),
    )
    code = 0
    try:
        server.serve_forever()
    except Exception:
        log.exception("painel-exporter failed")
        code = 1
    finally:
        server.server_close()
        for collector in settings.collectors:
            try:
                collector.stop()
            except Exception:
                log.exception("collector %s did not stop cleanly", collector.name)
        scraper.close()
        log.info("painel-exporter stopped")
        logging.shutdown()
        # Python joins every pool thread at exit; one stuck in a call that never returns
        # (statvfs on a dead NFS mount) would keep a stopped exporter alive forever.
        os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
