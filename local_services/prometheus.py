"""Real Prometheus and Alertmanager (Debian's binaries) on free ports, with painel's rules.

PrometheusServer writes the config that prometheus/render_config.py renders for the given
app and exporter targets, scraped every second, with the repository's rule files (evaluated every second), queries through the HTTP API, and
backfills past data with `promtool tsdb create-blocks-from openmetrics` so that
day-over-day queries have a yesterday to compare with.

Alert rules wait `for:` minutes in production; a test cannot. With `alert_for="2s"` the
server loads a rewritten copy of each rule file, in its own work directory, where every
alert's `for:` is that value. Nothing else in the rules changes.

With `agent=True` it runs in agent mode (`--enable-feature=agent`): it scrapes and sends
everything to its `remote_write` urls with its `external_labels`, keeps only a WAL, has no
rules and answers no queries (deploy/victoriametrics/, docs/scaling.md).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import httpx
import yaml

from prometheus.render_config import render_config

from .paths import REPO_ROOT
from .ports import free_port
from .process import ManagedProcess
from .query_api import QueryAPI
from .waiting import wait_for_port, wait_until

RULES_DIR = REPO_ROOT / "prometheus" / "rules"


def repository_rule_files() -> list[Path]:
    return sorted([*RULES_DIR.glob("*.yml"), *RULES_DIR.glob("*.yaml")])


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is not installed: run scripts/bootstrap.sh")
    return path


def _wait_http_ok(url: str, timeout: float = 30.0) -> None:
    """Until `url` answers 200 (Prometheus and Alertmanager answer 503 while starting)."""
    wait_until(
        lambda: httpx.get(url, timeout=2).status_code == 200,
        timeout,
        what=f"{url} to answer 200",
        ignore=httpx.HTTPError,
    )


def rewrite_alert_for(rule_file: Path, out_dir: Path, alert_for: str) -> Path:
    """A copy of `rule_file` in `out_dir` with every alert's `for:` set to `alert_for`."""
    doc = yaml.safe_load(rule_file.read_text()) or {}
    for group in doc.get("groups", []):
        for rule in group.get("rules", []):
            if "alert" in rule:
                rule["for"] = alert_for
                rule.pop("keep_firing_for", None)
    out = Path(out_dir) / rule_file.name
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


class PrometheusServer(QueryAPI):
    def __init__(
        self,
        workdir: Path,
        django: Iterable[str],
        exporter: Iterable[str],
        rule_files: Iterable[Path] | None = None,
        alert_for: str | None = None,
        alertmanager: str | None = None,
        interval: str = "1s",
        port: int | None = None,
        retention: str = "7d",
        scrape_configs: Iterable[dict] | None = None,
        agent: bool = False,
        external_labels: dict[str, str] | None = None,
        remote_write: Iterable[str] = (),
    ) -> None:
        """django, exporter: host:port targets of the `django` and `painel-exporter` jobs;
        `scrape_configs`: Prometheus scrape jobs of your own instead of those two."""
        self.workdir = Path(workdir)
        self.django = list(django)
        self.exporter = list(exporter)
        self.agent = agent
        self.external_labels = dict(external_labels or {})
        self.remote_write = list(remote_write)
        if rule_files is None:
            rule_files = [] if agent else repository_rule_files()
        self.rule_files = list(rule_files)
        self.alert_for = alert_for
        self.alertmanager = alertmanager
        self.interval = interval
        self.port = port or free_port()
        self.retention = retention
        self.scrape_configs = list(scrape_configs) if scrape_configs is not None else None
        self.data_dir = self.workdir / "data"
        self.config_path = self.workdir / "prometheus.yml"
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        rules = self.rule_files
        if self.alert_for is not None:
            rewritten = self.workdir / "rules-for-tests"
            rewritten.mkdir(exist_ok=True)
            rules = [rewrite_alert_for(path, rewritten, self.alert_for) for path in rules]
        text = render_config(
            self.django,
            self.exporter,
            [self.alertmanager] if self.alertmanager else [],
            rule_files=[str(path) for path in rules],
            scrape_interval=self.interval,
            scrape_configs=self.scrape_configs,
            external_labels=self.external_labels,
            remote_write=self.remote_write,
            agent=self.agent,
        )
        self.config_path.write_text(text)
        return self.config_path

    def argv(self) -> list[str]:
        if self.agent:  # Debian's 2.42: agent mode is a feature flag, with its own WAL flag
            storage = ["--enable-feature=agent", f"--storage.agent.path={self.data_dir}"]
        else:
            storage = [
                f"--storage.tsdb.path={self.data_dir}",
                f"--storage.tsdb.retention.time={self.retention}",
                "--enable-feature=exemplar-storage",
            ]
        argv = [
            _binary("prometheus"),
            f"--config.file={self.config_path}",
            *storage,
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-lifecycle",
        ]
        return argv

    def start(self) -> PrometheusServer:
        self.write_config()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = ManagedProcess(f"prometheus-{self.port}", self.argv(), self.workdir)
        self.process.start(ready=lambda: _wait_http_ok(f"{self.url}/-/ready", timeout=60))
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def restart(self) -> None:
        """Stop and start on the same port and data: the way to load backfilled blocks now."""
        self.stop()
        self.start()

    def backfill(self, openmetrics: str) -> str:
        """Write OpenMetrics text (ending in `# EOF`) as TSDB blocks into the data directory.

        Prometheus loads blocks at start-up (a running one within a minute): backfill before
        start() or call restart() afterwards. Returns promtool's report.
        """
        self.workdir.mkdir(parents=True, exist_ok=True)
        source = self.workdir / f"backfill-{time.time_ns()}.om"
        source.write_text(openmetrics)
        try:
            return self.backfill_file(source)
        finally:
            source.unlink()

    def backfill_file(self, source: Path) -> str:
        """backfill() from a file of OpenMetrics text (history too large to hold in memory)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [_binary("promtool"), "tsdb", "create-blocks-from", "openmetrics", str(source)]
            + [str(self.data_dir)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            raise RuntimeError(f"promtool backfill failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def backfill_rules(self, rule_file: Path, start: int, end: int, eval_interval: str) -> str:
        """The recording rules of `rule_file` evaluated by this running server over [start,
        end] (unix seconds) at `eval_interval` (a group's own `interval` wins), written by
        `promtool tsdb create-blocks-from rules` into the data directory: restart() loads
        them. A rule reading another recorded series needs that one backfilled and loaded
        first (promtool asks the server, which has no past of a rule it did not record)."""
        out = self.workdir / f"rule-blocks-{time.time_ns()}"
        done = subprocess.run(
            [_binary("promtool"), "tsdb", "create-blocks-from", "rules"]
            + [f"--start={start}", f"--end={end}", f"--url={self.url}"]
            + [f"--output-dir={out}", f"--eval-interval={eval_interval}", str(rule_file)],
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if done.returncode != 0:
            raise RuntimeError(f"promtool rules backfill failed:\n{done.stdout}\n{done.stderr}")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for block in out.iterdir():
            if block.is_dir():
                shutil.move(str(block), self.data_dir / block.name)
        shutil.rmtree(out, ignore_errors=True)
        return done.stdout + done.stderr

    # --- the HTTP API -------------------------------------------------------------------

    def alerts(self) -> list[dict]:
        return self.api("alerts")["alerts"]

    def alert_states(self, name: str) -> set[str]:
        """States ('pending', 'firing') of the alert's active instances; empty when inactive."""
        return {a["state"] for a in self.alerts() if a["labels"].get("alertname") == name}

    def rule_groups(self) -> list[dict]:
        return self.api("rules")["groups"]

    def wait_for_rules_evaluated_after(self, moment: float) -> None:
        """Until every rule group has started an evaluation at or after `moment` (Unix
        time): a group late by more than its interval evaluates at its latest due tick,
        which is then still after `moment`."""
        self.wait_until(
            lambda: all(
                datetime.fromisoformat(group["lastEvaluation"]).timestamp() >= moment
                for group in self.rule_groups()
            ),
            what="every rule group evaluated after the last samples",
        )


class AlertmanagerServer:
    """Debian's prometheus-alertmanager with a config that routes everything nowhere.

    A real receiver (mail, chat) is the operator's choice; the demo only shows alerts.
    """

    def __init__(self, workdir: Path, port: int | None = None, config: Path | None = None):
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.config = config
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> AlertmanagerServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.config
        if config is None:
            config = self.workdir / "alertmanager.yml"
            config.write_text(
                yaml.safe_dump({"route": {"receiver": "null"}, "receivers": [{"name": "null"}]})
            )
        argv = [
            _binary("prometheus-alertmanager"),
            f"--config.file={config}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",  # a single instance: no gossip port to collide on
        ]
        self.process = ManagedProcess(f"alertmanager-{self.port}", argv, self.workdir)
        self.process.start(ready=lambda: _wait_http_ok(f"{self.url}/-/ready", timeout=60))
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def alerts(self) -> list[dict]:
        return httpx.get(f"{self.url}/api/v2/alerts", timeout=10).json()
