"""Waiting for something to become true: the one polling loop, and a port that accepts."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(TimeoutError):
    """What was awaited did not happen in time; the message says what it was."""


def wait_until(
    condition: Callable[[], T],
    timeout: float,
    interval: float = 0.1,
    what: str = "",
    ignore: type[BaseException] | tuple[type[BaseException], ...] = (),
    detail: Callable[[], str] | None = None,
) -> T:
    """Call `condition` until it returns something truthy, and return that.

    An exception of a type in `ignore` counts as "not yet" (a service still starting);
    any other propagates at once. After `timeout` seconds, WaitTimeout naming `what`, with
    the last result or ignored error, and `detail()` (a log, the last answer) when given.
    """
    deadline = time.monotonic() + timeout
    while True:
        error = None
        try:
            last = condition()
            if last:
                return last
        except ignore as exc:
            last = error = exc
        if time.monotonic() > deadline:
            message = f"waited {timeout}s for {what or condition}; last: {last!r}"
            if detail is not None:
                message += f"\n{detail()}"
            raise WaitTimeout(message) from error
        time.sleep(interval)


def wait_for_port(
    port: int,
    host: str = "127.0.0.1",
    timeout: float = 30.0,
    alive: Callable[[], bool] | None = None,
) -> None:
    """Block until something accepts connections on host:port.

    With `alive`, give up at once (RuntimeError) when the process that should listen has died.
    """

    def accepts() -> bool:
        if alive is not None and not alive():
            raise RuntimeError(f"the process that should listen on {host}:{port} has exited")
        with socket.create_connection((host, port), timeout=0.5):
            return True

    wait_until(accepts, timeout, 0.05, what=f"a listener on {host}:{port}", ignore=OSError)
