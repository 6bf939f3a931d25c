"""painel-exporter as a real process on a free port, and its /metrics parsed.

with ExporterProcess(tmp_path, ["--redis-url", url]) as exporter:
    scrape = exporter.scrape()
    assert scrape.value("redis_up", addr=addr) == 1
    exporter.wait_for(lambda s: s.value("redis_up", addr=addr) == 0)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from exporter import collectors
from exporter.config import build_parser, env_name

from .ports import free_port, wait_for_port
from .process import ManagedProcess

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: str


class Scrape:
    """One /metrics answer, parsed by prometheus_client's own parser."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.families = {f.name: f for f in text_string_to_metric_families(text)}
        self._samples = [s for f in self.families.values() for s in f.samples]

    # `name` is positional-only so that a label called `name` (celery's task name) can be
    # matched too.
    def samples(self, name: str, /, **labels: str) -> list[tuple[dict[str, str], float]]:
        """(labels, value) of every sample called `name` whose labels include `labels`."""
        return [
            (dict(s.labels), s.value)
            for s in self._samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        ]

    def value(self, name: str, /, **labels: str) -> float | None:
        """The one sample matching exactly; None when absent; error when ambiguous."""
        found = self.samples(name, **labels)
        if len(found) > 1:
            raise AssertionError(f"{len(found)} samples of {name} match {labels}: {found}")
        return found[0][1] if found else None

    def __len__(self) -> int:
        """How many samples (series) the answer holds."""
        return len(self._samples)

    def names(self) -> set[str]:
        return {s.name for s in self._samples}

    def type_of(self, family: str) -> str | None:
        return self.families[family].type if family in self.families else None


def exporter_flags() -> set[str]:
    """Every long flag of painel-exporter, the collectors' own included."""
    parser = build_parser(collectors.modules())
    return {o for a in parser._actions for o in a.option_strings if o.startswith("--")}


def exporter_env_names() -> set[str]:
    """The PAINEL_EXPORTER_* variable of every flag: a misspelt one is ignored silently."""
    return {env_name(flag) for flag in exporter_flags()}


class ExporterProcess:
    """`python -m exporter` with the given flags (and env), listening on 127.0.0.1:<free>."""

    def __init__(
        self,
        workdir: Path,
        flags: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        name: str = "exporter",
        wrapper: Sequence[str] = (),
    ) -> None:
        """`wrapper`: a command that runs the exporter's argv, such as `unshare --mount`."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, "-m", "exporter", "--listen", f"127.0.0.1:{self.port}", *flags]
        self.process = ManagedProcess(
            f"{name}-{self.port}",
            [*wrapper, *argv],
            workdir,
            env=dict(env or {}),
            cwd=ROOT,
        )

    def start(self) -> ExporterProcess:
        self.process.start(ready=lambda: wait_for_port(self.port, timeout=20))
        return self

    def stop(self) -> None:
        self.process.stop()

    def __enter__(self) -> ExporterProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def get(
        self, path: str = "/metrics", headers: Mapping[str, str] | None = None, timeout=5.0
    ) -> Response:
        """GET a path; an HTTP error status is returned, not raised."""
        request = urllib.request.Request(self.url + path, headers=dict(headers or {}))
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return Response(answer.status, dict(answer.headers), answer.read().decode())
        except urllib.error.HTTPError as error:
            return Response(error.code, dict(error.headers), error.read().decode())

    def scrape(self) -> Scrape:
        response = self.get("/metrics")
        if response.status != 200:
            raise AssertionError(f"/metrics answered {response.status}: {response.body[:200]}")
        return Scrape(response.body)

    def wait_for(
        self, predicate: Callable[[Scrape], object], timeout: float = 20.0, poll: float = 0.1
    ) -> Scrape:
        """Scrape until predicate(scrape) is true; the last scrape on timeout is in the error."""
        deadline = time.monotonic() + timeout
        while True:
            scrape = self.scrape()
            if predicate(scrape):
                return scrape
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"condition not met after {timeout}s; last /metrics:\n{scrape.text[-3000:]}"
                )
            time.sleep(poll)

    def log(self) -> str:
        return self.process.log_path.read_text(errors="replace")


NODE_EXPORTER_COLLECTORS = (
    "cpu",
    "loadavg",
    "meminfo",
    "filesystem",
    "diskstats",
    "netdev",
    "stat",
)


def node_exporter_binary(allow_install: bool = True) -> tuple[str | None, str]:
    """Debian's prometheus-node-exporter, installed with apt-get when missing and allowed.

    Returns (path or None, why it is missing). Debian's package would start a service on
    :9100; under a policy-rc.d it does not, else it is disabled again right away.
    """
    for name in ("prometheus-node-exporter", "node_exporter"):
        if shutil.which(name):
            return shutil.which(name), ""
    if not allow_install or shutil.which("apt-get") is None or os.geteuid() != 0:
        return None, "prometheus-node-exporter is not installed (apt-get install it as root)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends"]
    install += ["prometheus-node-exporter"]
    for step in (install, ["apt-get", "update", "-qq"], install):  # update only if needed
        try:
            subprocess.run(step, env=env, capture_output=True, timeout=300, check=False)
        except subprocess.TimeoutExpired:
            break
        if shutil.which("prometheus-node-exporter"):
            if shutil.which("systemctl"):
                subprocess.run(
                    ["systemctl", "disable", "--now", "prometheus-node-exporter"],
                    capture_output=True,
                    check=False,
                )
            return shutil.which("prometheus-node-exporter"), ""
    return None, "apt-get could not install prometheus-node-exporter (offline?)"


class NodeExporterProcess:
    """A real node_exporter on a free port, limited to the collectors painel mirrors."""

    def __init__(self, binary: str, workdir: Path, all_collectors: bool = False) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        flags = [f"--web.listen-address=127.0.0.1:{self.port}"]
        if not all_collectors:
            flags += ["--collector.disable-defaults"]
            flags += [f"--collector.{name}" for name in NODE_EXPORTER_COLLECTORS]
        self.process = ManagedProcess(f"node-exporter-{self.port}", [binary, *flags], workdir)

    def __enter__(self) -> NodeExporterProcess:
        self.process.start(ready=lambda: wait_for_port(self.port, timeout=20))
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.stop()

    def scrape(self) -> Scrape:
        with urllib.request.urlopen(self.url + "/metrics", timeout=5) as answer:
            return Scrape(answer.read().decode())
