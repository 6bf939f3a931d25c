"""Free local ports, and waiting for a listener, a service or a condition."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(
    port: int,
    host: str = "127.0.0.1",
    timeout: float = 30.0,
    alive: Callable[[], bool] | None = None,
) -> None:
    """Block until something accepts connections on host:port, or raise TimeoutError.

    With `alive`, give up at once when the process that should listen has died.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise RuntimeError(f"the process that should listen on {host}:{port} has exited")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


def retry(
    attempt: Callable[[], T],
    errors: type[BaseException] | tuple[type[BaseException], ...],
    timeout: float,
    every: float = 0.05,
) -> T:
    """Call `attempt` until it stops raising `errors`; after `timeout`, its last error."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return attempt()
        except errors:
            if time.monotonic() > deadline:
                raise
            time.sleep(every)


def wait_until(condition: Callable[[], T], timeout: float, every: float = 0.1) -> T:
    """Call `condition` until it returns something truthy, and return that; AssertionError
    after `timeout`."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"condition not met in {timeout}s"
        time.sleep(every)
    return result
