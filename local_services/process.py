"""A child process that is started, waited for, and always stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from .waiting import wait_until


class ManagedProcess:
    """Run a command in its own process group with output in a log file.

    `stop()` sends SIGTERM to the whole group, then SIGKILL after `grace` seconds, so a
    gunicorn master or a celery worker never leaves children behind.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_dir: Path,
        env: dict[str, str] | None = None,
        cwd: str | Path | None = None,
    ) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = Path(log_dir) / f"{name}.log"
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None

    def start(self, ready: Callable[[], None] | None = None) -> ManagedProcess:
        """Start the process; `ready` blocks until it serves (and raises if it never does)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            self.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,
        )
        log.close()
        if ready is not None:
            try:
                ready()
            except Exception as exc:
                self.stop()
                raise RuntimeError(f"{self.name} did not start:\n{self.tail()}") from exc
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        """Send a signal to the process itself (not its group)."""
        if self.alive():
            os.kill(self.pid, sig)

    def stop(self, grace: float = 10.0) -> None:
        if not self.alive():
            return
        self._signal_group(signal.SIGTERM)
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL the whole group at once: a crash, not a shutdown."""
        if self.alive():
            self._signal_group(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def wait_for_output(self, marker: str, timeout: float, lines: int = 200) -> None:
        """Block until `marker` shows in the last `lines` of the log; fail if the process exits."""

        def logged() -> bool:
            if marker in self.tail(lines):
                return True
            if not self.alive():
                raise RuntimeError(f"{self.name} exited before it logged {marker!r}")
            return False

        wait_until(logged, timeout, what=f"{self.name} to log {marker!r}")

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, sig)
