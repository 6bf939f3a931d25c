"""wait_until and wait_for_port: what they return, and what a timeout says."""

import itertools
import socket

import pytest

from local_services.ports import free_port
from local_services.waiting import WaitTimeout, wait_for_port, wait_until


def test_wait_until_returns_the_first_truthy_answer():
    answers = iter([None, 0, "", "ready", "later"])
    assert wait_until(lambda: next(answers), timeout=5, interval=0) == "ready"


def test_a_timeout_names_what_was_awaited_and_the_last_answer():
    with pytest.raises(WaitTimeout, match=r"waited 0.2s for the queue to drain; last: \[\]"):
        wait_until(lambda: [], timeout=0.2, interval=0.05, what="the queue to drain")


def test_ignored_errors_count_as_not_yet_and_the_last_one_is_kept():
    calls = itertools.count()

    def connects():
        if next(calls) < 2:
            raise ConnectionRefusedError("not yet")
        return True

    assert wait_until(connects, timeout=5, interval=0, ignore=OSError)

    def refused():
        raise ConnectionRefusedError("nothing listens")

    with pytest.raises(WaitTimeout, match="last: ConnectionRefusedError") as raised:
        wait_until(refused, 0.1, 0.05, ignore=OSError)
    assert isinstance(raised.value.__cause__, ConnectionRefusedError)


def test_other_errors_stop_the_wait_at_once():
    def broken():
        raise KeyError("gone")

    with pytest.raises(KeyError):
        wait_until(broken, timeout=30, ignore=OSError)


def test_a_timeout_adds_the_detail_asked_for():
    with pytest.raises(WaitTimeout, match="server log: nothing"):
        wait_until(
            lambda: False, 0.1, 0.05, what="a log line", detail=lambda: "server log: nothing"
        )


def test_wait_for_port_returns_once_something_listens_and_says_where_nothing_does():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        wait_for_port(listener.getsockname()[1], timeout=5)
    port = free_port()
    with pytest.raises(WaitTimeout, match=f"a listener on 127.0.0.1:{port}"):
        wait_for_port(port, timeout=0.3)
    with pytest.raises(RuntimeError, match="has exited"):
        wait_for_port(port, timeout=30, alive=lambda: False)
