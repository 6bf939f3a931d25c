"""The record parsers on blocks of lines as real loggers write them."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest
import structlog
from pythonjsonlogger.json import JsonFormatter

from exporter.collectors.logs.parser import LogCounts, make_parser, validate_format


def parse(fmt: str, *blocks: bytes, max_exception_types: int = 100) -> LogCounts:
    counts = LogCounts(max_exception_types)
    parser = make_parser(fmt, counts)
    for block in blocks:
        parser.feed(block)
    parser.flush()
    return counts


def python_log(format: str, emit) -> bytes:
    """What Python's logging writes with this format, from emit(logger)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(format))
    logger = logging.getLogger(f"test.logparse.{id(stream)}")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    emit(logger)
    return stream.getvalue().encode()


def raise_chained(logger: logging.Logger) -> None:
    try:
        try:
            {}["missing"]
        except KeyError as exc:
            raise ValueError("bad value") from exc
    except ValueError:
        logger.exception("Internal Server Error: /api/v1/orders/1/")


class PaymentDeclinedError(Exception):
    pass


def emit_mixed(logger: logging.Logger) -> None:
    logger.debug("debug")
    logger.info("a message\nthat spans two lines")
    logger.warning("careful")
    raise_chained(logger)
    try:
        raise PaymentDeclinedError("card")
    except PaymentDeclinedError:
        logger.error("payment failed", exc_info=True)
    logger.critical("down")


@pytest.mark.parametrize(
    "format",
    [
        "%(asctime)s %(levelname)s %(name)s %(message)s",  # Django's usual
        "[%(asctime)s] %(levelname)s [%(name)s:%(lineno)s] %(message)s",
        "%(asctime)s - %(levelname)s - %(name)s - %(message)s",
    ],
)
def test_python_format_counts_each_record_once_with_its_last_exception(format):
    data = python_log(format, emit_mixed)
    counts = parse("python", data)
    assert counts.levels == {"debug": 1, "info": 1, "warning": 1, "error": 2, "critical": 1}
    assert counts.exceptions == {
        "ValueError": 1,
        f"{__name__}.PaymentDeclinedError": 1,
    }
    assert counts.unparsed == 0


@pytest.mark.skipif(sys.version_info < (3, 11), reason="ExceptionGroup is Python 3.11+")
def test_an_exception_group_counts_as_the_group():
    def emit(logger):
        try:
            try:
                raise OSError("first")
            except OSError as exc:
                raise ExceptionGroup("many", [ValueError("a"), KeyError("b")]) from exc  # noqa: F821
        except Exception:
            logger.exception("tasks failed")

    counts = parse("python", python_log("%(asctime)s %(levelname)s %(name)s %(message)s", emit))
    assert counts.exceptions == {"ExceptionGroup": 1}
    assert counts.unparsed == 0


def test_gunicorn_and_celery_layouts_are_python_format_too():
    data = (
        b"[2024-05-01 12:00:00 +0000] [123] [INFO] Starting gunicorn 22.0.0\n"
        b"[2024-05-01 12:00:01,250: WARNING/MainProcess] consumer: Connection lost\n"
        b"[2024-05-01 12:00:02,500: ERROR/ForkPoolWorker-1] Task shop.tasks.charge raised\n"
        b'Traceback (most recent call last):\n  File "tasks.py", line 3\n'
        b"shop.payments.PaymentDeclined: card\n"
    )
    counts = parse("python", data)
    assert counts.levels == {"debug": 0, "info": 1, "warning": 1, "error": 1, "critical": 0}
    assert counts.exceptions == {"shop.payments.PaymentDeclined": 1}
    assert counts.unparsed == 0


def test_counts_do_not_depend_on_where_blocks_split():
    data = python_log("%(asctime)s %(levelname)s %(name)s %(message)s", emit_mixed) * 3
    lines = data.splitlines(keepends=True)
    whole = parse("python", data)
    for split in range(1, len(lines)):
        parts = parse("python", b"".join(lines[:split]), b"".join(lines[split:]))
        assert (parts.levels, parts.exceptions, parts.unparsed) == (
            whole.levels,
            whole.exceptions,
            whole.unparsed,
        ), split


def test_garbage_and_orphan_lines_are_unparsed_and_never_join_a_record():
    record = b"2024-05-01 12:00:00,000 ERROR app boom\n"
    data = (
        b"orphan line before any record\n"
        + record
        + b"\xff\xfe invalid utf-8\n"
        + b"\x00\x01\x02 binary\n"
        + b"  a continuation of the record\n"
        + record
    )
    counts = parse("python", data)
    assert counts.levels["error"] == 2
    assert counts.unparsed == 3


def test_a_line_that_starts_like_a_record_but_is_none_is_still_found():
    data = b"2024-05-01 12:00:00,000 INFO app ok\n2024 not a record \xff\n"
    assert parse("python", data).unparsed == 1


def test_exception_types_are_capped_then_other():
    tb = 'Traceback (most recent call last):\n  File "x.py", line 1\n{}: boom\n'
    data = b"".join(
        f"2024-05-01 12:00:00,000 ERROR app e\n{tb.format(f'pkg.E{i}')}".encode() for i in range(5)
    )
    counts = parse("python", data, max_exception_types=3)
    assert counts.exceptions == {"pkg.E0": 1, "pkg.E1": 1, "pkg.E2": 1, "<other>": 2}


def test_json_lines_from_python_json_logger():
    def emit(logger):
        logger.info("hello")
        raise_chained(logger)

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(message)s"))
    logger = logging.getLogger("test.logparse.json")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    emit(logger)
    garbage = b"not json\n[1, 2]\n" + b"[" * 100_000 + b"\n"
    counts = parse("json", stream.getvalue().encode() + garbage)
    assert counts.levels["info"] == 1 and counts.levels["error"] == 1
    assert counts.exceptions == {"ValueError": 1}
    assert counts.unparsed == 3


@pytest.mark.parametrize(
    "processor", [structlog.processors.format_exc_info, structlog.processors.dict_tracebacks]
)
def test_json_lines_from_structlog(processor):
    out = io.StringIO()
    logger = structlog.wrap_logger(
        structlog.PrintLogger(out),
        processors=[
            structlog.processors.add_log_level,
            processor,
            structlog.processors.JSONRenderer(),
        ],
    )
    logger.warning("slow")
    try:
        raise KeyError("x")
    except KeyError:
        logger.exception("failed")
    counts = parse("json", out.getvalue().encode())
    assert counts.levels["warning"] == 1 and counts.levels["error"] == 1
    assert counts.exceptions == {"KeyError": 1}


def test_user_regex_with_named_groups():
    fmt = r"^(?P<level>[A-Z]+)\|(?P<logger>[\w.]+)\|"
    data = (
        b"INFO|app|started\nERROR|app|failed\nTraceback (most recent call last):\n"
        b'  File "a.py", line 1\nOSError: disk\nNOTICE|app|custom level\nplain junk? no: '
        b"continuation\n"
    )
    counts = parse(fmt, data)
    assert counts.levels["info"] == 2 and counts.levels["error"] == 1  # NOTICE is info
    assert counts.exceptions == {"OSError": 1}
    assert counts.unparsed == 0


@pytest.mark.parametrize("fmt", ["(unclosed", r"^\S+ [A-Z]+ "])
def test_a_bad_format_says_what_to_fix(fmt):
    with pytest.raises(ValueError, match="regular expression"):
        validate_format(fmt)


def test_json_record_without_level_counts_as_other():
    counts = parse("json", json.dumps({"message": "no level"}).encode() + b"\n")
    assert counts.levels["other"] == 1
