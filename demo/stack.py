"""The local demo stack without Docker: `bash scripts/stack.sh` runs `python -m demo.stack`.

redis-server, the demo app under gunicorn (2 workers, multiprocess metrics), a Celery
worker with task events, painel-exporter, Alertmanager and Prometheus with painel's rules,
and the load. Each listens on 127.0.0.1, on a fixed port away from the standard ones when
that port is free and on any free port when it is not. Ctrl-C or SIGTERM stops them all,
and so does --duration.

The processes are started with the same helpers the tests use (local_services/), so the
stack a person runs is the stack the end-to-end test checks.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from demo import load
from local_services.gunicorn import GunicornServer
from local_services.paths import REPO_ROOT
from local_services.ports import free_port
from local_services.process import ManagedProcess
from local_services.prometheus import AlertmanagerServer, PrometheusServer
from local_services.redis import RedisServer
from local_services.waiting import wait_for_port

CELERY_NODENAME = "demo@localhost"

# Away from 6379, 8000, 9090, 9093, which other software on a machine likely holds.
PREFERRED_PORTS = {
    "redis": 16379,
    "cache": 16380,
    "app": 18000,
    "exporter": 19811,
    "prometheus": 19090,
    "alertmanager": 19093,
}


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_ports(fixed: bool) -> dict[str, int]:
    """The preferred ports where free (fixed=True), free ones otherwise; all distinct."""
    ports: dict[str, int] = {}
    for name, preferred in PREFERRED_PORTS.items():
        port = preferred if fixed and port_is_free(preferred) else free_port()
        while port in ports.values():  # the OS may hand out a just-released port again
            port = free_port()
        ports[name] = port
    return ports


def _seconds(duration: str) -> float:
    """A Prometheus duration of one unit ("5s", "1m", "500ms") in seconds."""
    for unit, factor in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if duration.endswith(unit):
            return float(duration.removesuffix(unit)) * factor
    raise ValueError(f"{duration!r} is not a Prometheus duration like 5s or 1m")


@dataclass
class Component:
    name: str
    start: Callable[[], object]
    stop: Callable[[], None]
    alive: Callable[[], bool]
    log: Callable[[], str]


class Stack:
    """Every process of the demo, built up front and started in dependency order.

    The objects exist before start(), so a caller may prepare them (the e2e test backfills
    Prometheus' data directory before it starts).
    """

    def __init__(
        self,
        workdir: Path,
        log_dir: Path | None = None,
        fixed_ports: bool = False,
        workers: int = 2,
        scrape_interval: str = "5s",
        alert_for: str | None = None,
        probe_interval: float = 15.0,
        rule_files: list[Path] | None = None,
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.log_dir = Path(log_dir or self.workdir / "logs").resolve()
        self.ports = pick_ports(fixed_ports)
        self.workers = workers
        self.probe_interval = probe_interval
        # The new-series hold (painel.new_series) as long as this stack's scrape interval.
        self.max_scrape_interval = _seconds(scrape_interval)
        # Two Redis servers, as production often has: the Celery broker and the Django cache,
        # so the cache's hit ratio is the app's, not mixed with the broker's queue polling.
        self.redis = RedisServer(self.workdir / "redis", port=self.ports["redis"])
        self.cache = RedisServer(self.workdir / "cache", port=self.ports["cache"])
        # painel's gunicorn config; PROMETHEUS_MULTIPROC_DIR emptied at each start.
        self.app = GunicornServer(
            self.workdir,
            "demo.wsgi:application",
            workers=workers,
            env=self.app_env(),
            args=["--access-logfile", "-"],
            name="app",
            port=self.ports["app"],
            ready_path="/metrics",  # not counted: the load's tally is all there is
        )
        celery_argv = [
            sys.executable, "-m", "celery", "-A", "demo", "worker",
            "--task-events",  # -E: the exporter counts tasks from these events
            "--hostname", CELERY_NODENAME,
            "--concurrency", "2",
            # mingle and gossip wait for peers at start-up: there are none here.
            "--without-mingle", "--without-gossip",
            "--loglevel", "INFO",
        ]  # fmt: skip
        # The worker serves no /metrics: its prometheus_client stays in-process. The variable
        # is removed, not emptied: prometheus_client takes an empty one as multiprocess mode
        # and writes its files into the working directory.
        celery_env = {k: v for k, v in self.app_env().items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        self.celery = ManagedProcess(
            "celery", celery_argv, self.workdir, env=celery_env, cwd=REPO_ROOT
        )
        self.celery.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.exporter = ManagedProcess(
            "exporter",
            [sys.executable, "-m", "exporter", "--listen", f"127.0.0.1:{self.ports['exporter']}"],
            self.workdir,
            env=self.exporter_env(),
            cwd=REPO_ROOT,
        )
        self.alertmanager = AlertmanagerServer(
            self.workdir / "alertmanager",
            port=self.ports["alertmanager"],
            config=REPO_ROOT / "prometheus" / "alertmanager.yml",
        )
        self.prometheus = PrometheusServer(
            self.workdir / "prometheus",
            django=[self.addr("app")],
            exporter=[self.addr("exporter")],
            alertmanager=self.alertmanager.addr,
            interval=scrape_interval,
            alert_for=alert_for,
            port=self.ports["prometheus"],
            rule_files=rule_files,  # None: the repository's
        )
        self.components = [
            self._server("redis", self.redis),
            Component(
                "cache",
                self.start_cache,
                self.cache.stop,
                lambda: self.cache.process.alive(),
                lambda: self.cache.process.tail(),
            ),
            self._server("app", self.app),
            self._managed(self.celery, self.start_celery),
            self._managed(self.exporter, self.start_exporter),
            self._server("alertmanager", self.alertmanager),
            self._server("prometheus", self.prometheus),
        ]
        self.started: list[Component] = []

    @staticmethod
    def _server(name: str, server) -> Component:
        """A helper object with start()/stop() and a ManagedProcess once started."""
        return Component(
            name,
            server.start,
            server.stop,
            lambda: server.process.alive(),
            lambda: server.process.tail(),
        )

    @staticmethod
    def _managed(process: ManagedProcess, start: Callable[[], object]) -> Component:
        return Component(process.name, start, process.stop, process.alive, process.tail)

    # --- addresses -------------------------------------------------------------------

    def addr(self, name: str) -> str:
        return f"127.0.0.1:{self.ports[name]}"

    def url(self, name: str) -> str:
        if name in ("redis", "cache"):
            return f"redis://{self.addr(name)}"
        return f"http://{self.addr(name)}"

    @property
    def errors_log(self) -> Path:
        return self.log_dir / "errors.log"

    @property
    def slow_requests_log(self) -> Path:
        return self.log_dir / "slow_requests.log"

    def app_env(self) -> dict[str, str]:
        return {
            "DJANGO_SETTINGS_MODULE": "demo.settings",
            "DEMO_REDIS_URL": self.url("redis"),
            "DEMO_CACHE_URL": f"{self.url('cache')}/0",
            "DEMO_LOG_DIR": str(self.log_dir),
            "DEMO_MAX_SCRAPE_INTERVAL": f"{self.max_scrape_interval:g}",
            "PYTHONUNBUFFERED": "1",
        }

    def exporter_env(self) -> dict[str, str]:
        """Everything the exporter watches, as PAINEL_EXPORTER_* variables."""
        return {
            "PAINEL_EXPORTER_REDIS_URL": f"{self.url('redis')},{self.url('cache')}",
            "PAINEL_EXPORTER_BROKER_URL": f"{self.url('redis')}/0",
            "PAINEL_EXPORTER_LOG_FILE": f"errors={self.errors_log}",
            "PAINEL_EXPORTER_SLOW_REQUEST_LOG": str(self.slow_requests_log),
            "PAINEL_EXPORTER_HEALTH_URL": f"{self.url('app')}/health",
            "PAINEL_EXPORTER_INTERVAL": f"{self.probe_interval:g}",
            "PAINEL_EXPORTER_MAX_SCRAPE_INTERVAL": f"{self.max_scrape_interval:g}",
            "PYTHONUNBUFFERED": "1",
        }

    # --- start and stop --------------------------------------------------------------

    def start_cache(self) -> None:
        self.cache.start()
        # A cache evicts instead of refusing writes (as in docker-compose.yml).
        client = self.cache.client()
        client.config_set("maxmemory", "128mb")
        client.config_set("maxmemory-policy", "allkeys-lru")

    def start_celery(self) -> None:
        # Celery logs "<nodename> ready." once its consumer listens to the queues.
        self.celery.start(
            ready=lambda: self.celery.wait_for_output(f"{CELERY_NODENAME} ready.", timeout=60)
        )

    def start_exporter(self) -> None:
        self.exporter.start(ready=lambda: wait_for_port(self.ports["exporter"], timeout=30))

    def start(self, only: set[str] | None = None) -> Stack:
        """Start every component not yet started (or those in `only`), in order."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            for component in self.components:
                if component in self.started or (only is not None and component.name not in only):
                    continue
                component.start()
                self.started.append(component)
        except BaseException:
            self.stop()
            raise
        return self

    def component(self, name: str) -> Component:
        return next(c for c in self.components if c.name == name)

    def stop_component(self, name: str) -> None:
        component = self.component(name)
        component.stop()
        self.started.remove(component)

    def stop(self) -> None:
        """Stop in reverse order: nothing is left scraping or sending to a stopped process."""
        while self.started:
            component = self.started.pop()
            try:
                component.stop()
            except Exception as exc:  # keep stopping the others
                print(f"stack: stopping {component.name} failed: {exc}", file=sys.stderr)

    def dead(self) -> list[Component]:
        return [c for c in self.started if not c.alive()]

    def summary(self) -> str:
        return "\n".join(
            [
                "painel demo stack is up (all on 127.0.0.1):",
                f"  app           {self.url('app')}/api/v1/orders/  "
                f"(/metrics, /health; tenants: X-Tenant-ID header or <tenant>.localhost)",
                f"  exporter      {self.url('exporter')}/metrics",
                f"  prometheus    {self.url('prometheus')}/alerts  (graph: /graph)",
                f"  alertmanager  {self.url('alertmanager')}/",
                f"  redis         {self.url('redis')}  (Celery broker)",
                f"  cache         {self.url('cache')}  (Django cache)",
                f"  app logs      {self.errors_log}, {self.slow_requests_log}",
                f"  process logs  {self.workdir}/*.log",
                "  Grafana comes with `docker compose up` (see the README).",
            ]
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/stack.sh", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--duration",
        type=float,
        default=float(os.environ.get("PAINEL_STACK_DURATION", "0")),
        help="stop by itself after this many seconds (0: run until Ctrl-C or SIGTERM) "
        "[env PAINEL_STACK_DURATION]",
    )
    parser.add_argument("--workdir", type=Path, default=REPO_ROOT / "run", help="state and logs")
    parser.add_argument("--log-dir", type=Path, default=REPO_ROOT / "logs", help="the app's logs")
    parser.add_argument("--no-load", action="store_true", help="start everything but the load")
    parser.add_argument("--load-rate", type=float, default=10.0, help="requests per second")
    parser.add_argument("--load-requests", type=int, default=100_000, help="at most this many")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (at least 2)")
    parser.add_argument("--free-ports", action="store_true", help="any free ports, not fixed ones")
    args = parser.parse_args(argv)
    if args.duration < 0 or args.load_rate <= 0 or args.load_requests <= 0 or args.workers < 2:
        parser.error("--duration >= 0, --load-rate > 0, --load-requests > 0, --workers >= 2")

    stopping = threading.Event()

    def request_stop(signum, _frame) -> None:
        print(f"\nstack: {signal.Signals(signum).name}, stopping...", file=sys.stderr, flush=True)
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    stack = Stack(args.workdir, args.log_dir, fixed_ports=not args.free_ports, workers=args.workers)
    print(f"stack: starting in {stack.workdir} ...", flush=True)
    try:
        stack.start()
    except Exception as exc:
        print(f"stack: could not start: {exc}", file=sys.stderr)
        return 1
    print(stack.summary(), flush=True)
    print("Press Ctrl-C to stop.", flush=True)

    loader = None
    if not args.no_load:
        loader = threading.Thread(
            target=_run_load, args=(stack, args, stopping), name="load", daemon=True
        )
        loader.start()

    deadline = time.monotonic() + args.duration if args.duration else None
    status = 0
    while not stopping.wait(1.0):
        dead = stack.dead()
        if dead:
            for component in dead:
                print(f"stack: {component.name} exited:\n{component.log()}", file=sys.stderr)
            status = 1
            break
        if deadline and time.monotonic() >= deadline:
            print(f"stack: {args.duration:g} s are up, stopping...", flush=True)
            break
    stopping.set()
    if loader is not None:
        loader.join(timeout=35)
    stack.stop()
    print("stack: stopped.", flush=True)
    return status


def _run_load(stack: Stack, args: argparse.Namespace, stopping: threading.Event) -> None:
    calls = load.iter_plan(args.load_requests, port=stack.ports["app"])
    progress = load.Progress(args.load_requests, stream=sys.stdout)
    tally = load.run(
        stack.url("app"),
        calls,
        duration=args.duration or 24 * 3600,
        rate=args.load_rate,
        on_progress=progress.update,
        stop=stopping,
    )
    progress.update(tally, final=True)


if __name__ == "__main__":
    sys.exit(main())
