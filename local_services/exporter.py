"""painel-exporter as a real process on a free port; its /metrics as a parsed Scrape.

with ExporterProcess(tmp_path, ["--redis-url", url]) as exporter:
    scrape = exporter.scrape()
    assert scrape.value("redis_up", addr=addr) == 1
    exporter.wait_for(lambda s: s.value("redis_up", addr=addr) == 0)
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .paths import REPO_ROOT
from .ports import free_port
from .process import ManagedProcess
from .scrape import Scrape
from .waiting import wait_for_port, wait_until


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: str


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
            cwd=REPO_ROOT,
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
        last: list[Scrape] = []

        def met() -> bool:
            last[:] = [self.scrape()]
            return bool(predicate(last[0]))

        wait_until(
            met,
            timeout,
            poll,
            what=f"a /metrics of {self.url} that passes the check",
            detail=lambda: f"last /metrics:\n{last[0].text[-3000:]}",
        )
        return last[0]

    def log(self) -> str:
        return self.process.log_path.read_text(errors="replace")
