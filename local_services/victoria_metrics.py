"""VictoriaMetrics and vmalert (Debian's victoria-metrics package) on free ports.

Both start with the flags of deploy/victoriametrics/*.default, the files an operator puts
in /etc/default/, with only what is local to a run replaced: the listen address, the data
directory, the URLs of the other services, the rule files. What a test needs on top is
given by the caller (`overrides`, flag name to value): the store's
`-search.latencyOffset=0s` and `-search.disableCache`, so that a sample is queryable as soon
as it arrives, vmalert's `-evaluationInterval=1s`.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import httpx

from .paths import REPO_ROOT
from .ports import free_port
from .process import ManagedProcess
from .prometheus import _binary, _wait_http_ok, repository_rule_files
from .query_api import QueryAPI

DEPLOY_DIR = REPO_ROOT / "deploy" / "victoriametrics"


def default_args(name: str) -> list[str]:
    """The flags of deploy/victoriametrics/<name>.default (its ARGS="..." line)."""
    path = DEPLOY_DIR / f"{name}.default"
    for line in path.read_text().splitlines():
        if line.startswith("ARGS="):
            return shlex.split(shlex.split(line.removeprefix("ARGS="))[0])
    raise ValueError(f"{path}: no ARGS= line")


def with_flags(args: Iterable[str], overrides: Mapping[str, str | list[str]]) -> list[str]:
    """`args` (-name=value) with each flag named in `overrides` replaced (a list: repeated)."""
    kept = [a for a in args if a.lstrip("-").split("=", 1)[0] not in overrides]
    for name, value in overrides.items():
        values = value if isinstance(value, list) else [value]
        kept += [f"-{name}={v}" for v in values]
    return kept


def rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _VMProcess:
    """A VictoriaMetrics binary on a local port: its address, its start (ready when /health
    answers) and stop; `argv()` is each binary's own."""

    name: str
    port: int
    workdir: Path
    process: ManagedProcess | None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        raise NotImplementedError

    def start(self):
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = ManagedProcess(f"{self.name}-{self.port}", self.argv(), self.workdir)
        self.process.start(ready=lambda: _wait_http_ok(f"{self.url}/health", timeout=60))
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


class VictoriaMetricsServer(_VMProcess, QueryAPI):
    """Single-node VictoriaMetrics: Prometheus remote_write in, the Prometheus query API out."""

    name = "victoria-metrics"
    post = True  # the query API asked as Grafana asks it (POST, form-encoded)

    def __init__(
        self, workdir: Path, port: int | None = None, overrides: Mapping[str, str] | None = None
    ) -> None:
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.overrides = dict(overrides or {})
        self.process: ManagedProcess | None = None

    @property
    def write_url(self) -> str:
        """Where Prometheus' remote_write sends (the store's Prometheus-compatible push path)."""
        return f"{self.url}/api/v1/write"

    def argv(self) -> list[str]:
        args = with_flags(
            default_args("victoria-metrics"),
            {
                **self.overrides,
                "storageDataPath": str(self.workdir / "data"),
                "httpListenAddr": f"127.0.0.1:{self.port}",
            },
        )
        return [_binary("victoria-metrics"), *args]

    # --- past data ---------------------------------------------------------------------

    def import_prometheus(self, text: str, extra_labels: Mapping[str, str] = ()) -> None:
        """Samples in the Prometheus text format, timestamps in milliseconds: how past data
        (a backfill) goes in; `extra_labels` are added to every series."""
        params = [("extra_label", f"{k}={v}") for k, v in dict(extra_labels).items()]
        response = httpx.post(
            f"{self.url}/api/v1/import/prometheus", params=params, content=text, timeout=60
        )
        response.raise_for_status()


class VMAlert(_VMProcess):
    """vmalert evaluating rule files (painel's by default) against a store, writing the
    recorded series and ALERTS back into it and sending alerts to an Alertmanager."""

    name = "vmalert"

    def __init__(
        self,
        workdir: Path,
        store: str,
        alertmanager: str,
        rule_files: Iterable[Path] | None = None,
        port: int | None = None,
        overrides: Mapping[str, str] | None = None,
    ) -> None:
        """store: the VictoriaMetrics URL; alertmanager: its URL."""
        self.workdir = Path(workdir)
        self.store = store
        self.alertmanager = alertmanager
        self.rule_files = list(rule_files) if rule_files is not None else repository_rule_files()
        self.port = port or free_port()
        self.overrides = dict(overrides or {})
        self.process: ManagedProcess | None = None

    def argv(self) -> list[str]:
        args = with_flags(
            default_args("vmalert"),
            {
                **self.overrides,
                "rule": [str(path) for path in self.rule_files],
                "datasource.url": self.store,
                "remoteWrite.url": self.store,
                "remoteRead.url": self.store,
                "notifier.url": self.alertmanager,
                "httpListenAddr": f"127.0.0.1:{self.port}",
            },
        )
        return [_binary("vmalert"), *args]

    def rule_groups(self) -> list[dict]:
        return httpx.get(f"{self.url}/api/v1/rules", timeout=10).json()["data"]["groups"]

    def alerts(self) -> list[dict]:
        return httpx.get(f"{self.url}/api/v1/alerts", timeout=10).json()["data"]["alerts"]


def replay(
    workdir: Path,
    store: str,
    rule_files: Iterable[Path],
    start: float,
    end: float,
    interval: str,
    extra: Iterable[str] = (),
) -> str:
    """Evaluate recording rules over a past window and write the results to the store:
    vmalert's replay mode, the way to backfill recorded series for data imported later.
    Returns vmalert's output."""
    argv = [
        _binary("vmalert"),
        *[f"-rule={path}" for path in rule_files],
        f"-datasource.url={store}",
        f"-remoteWrite.url={store}",
        f"-replay.timeFrom={rfc3339(start)}",
        f"-replay.timeTo={rfc3339(end)}",
        f"-evaluationInterval={interval}",
        "-replay.disableProgressBar",
        *extra,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=180, cwd=workdir)
    if done.returncode != 0:
        raise RuntimeError(f"vmalert replay failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout + done.stderr
