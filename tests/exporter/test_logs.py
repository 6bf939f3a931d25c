"""Log torture against the real exporter process, one log file per scenario.

Each test ends by writing a marker record and waiting for it: the follower reads in order,
so once the marker is counted every line before it was, and the counts must be exact.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pythonjsonlogger.json import JsonFormatter

from local_services.exporter import ExporterProcess
from tests.support.documented import undocumented

DJANGO_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
LOGS = ("plain", "rotated", "copytruncated", "garbage", "json", "quiet", "later", "directory")


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("logs")
    for name in LOGS:
        if name == "directory":
            (path / name).mkdir()  # a path that exists but cannot be read as a log
        elif name != "later":
            (path / f"{name}.log").write_bytes(b"2024-01-01 00:00:00,000 ERROR old not counted\n")
    return path


@pytest.fixture(scope="module")
def exporter(log_dir, tmp_path_factory):
    flags = ["--collectors", "logs", "--log-format", "json=json"]
    for name in LOGS:
        path = log_dir / name if name == "directory" else log_dir / f"{name}.log"
        flags += ["--log-file", f"{name}={path}"]
    with ExporterProcess(tmp_path_factory.mktemp("exporter-logs"), flags) as process:
        # the follower starts at the end: wait until it has opened every file there is
        present = [name for name in LOGS if name not in ("later", "directory")]
        process.wait_for(
            lambda s: all(s.value("log_file_readable", log=name) == 1 for name in present)
        )
        yield process


def file_logger(path: Path, handler: logging.Handler | None = None) -> logging.Logger:
    """A logger that writes `path` the way a Django app's file handler does."""
    handler = handler or logging.FileHandler(path)
    handler.setFormatter(logging.Formatter(DJANGO_FORMAT))
    logger = logging.getLogger(f"painel.test.{path.name}.{id(handler)}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger


def raise_and_log(logger: logging.Logger, error: Exception) -> None:
    try:
        raise error
    except Exception:
        logger.exception("Internal Server Error: /api/v1/orders/7/")


def wait_for_marker(exporter: ExporterProcess, name: str, markers: int = 1):
    """Scrape once the follower has read the marker (CRITICAL) records written last."""
    return exporter.wait_for(
        lambda s: s.value("log_messages_total", log=name, level="critical") == markers
    )


def levels(scrape, name: str) -> dict[str, float]:
    return {
        labels["level"]: value
        for labels, value in scrape.samples("log_messages_total", log=name)
        if value
    }


def exceptions(scrape, name: str) -> dict[str, float]:
    return {
        labels["exception"]: value
        for labels, value in scrape.samples("log_exceptions_total", log=name)
    }


def test_records_and_tracebacks_count_once_each(exporter, log_dir):
    logger = file_logger(log_dir / "plain.log")
    for i in range(50):
        logger.info("GET /api/v1/orders/%d/ 200", i)
    logger.warning("slow\nover two lines")
    raise_and_log(logger, ValueError("bad"))
    raise_and_log(logger, KeyError("missing"))
    raise_and_log(logger, ValueError("again"))
    logger.critical("marker")
    scrape = wait_for_marker(exporter, "plain")
    assert levels(scrape, "plain") == {"info": 50, "warning": 1, "error": 3, "critical": 1}
    assert exceptions(scrape, "plain") == {"ValueError": 2, "KeyError": 1}
    assert scrape.value("log_lines_unparsed_total", log="plain") == 0
    assert scrape.value("log_rotations_total", log="plain") == 0


def test_the_last_traceback_counts_once_the_log_goes_quiet(exporter, log_dir):
    logger = file_logger(log_dir / "quiet.log")
    raise_and_log(logger, TimeoutError("upstream"))  # no record follows it
    scrape = exporter.wait_for(lambda s: exceptions(s, "quiet"))
    assert exceptions(scrape, "quiet") == {"TimeoutError": 1}
    assert levels(scrape, "quiet") == {"error": 1}


def test_rename_and_create_rotation(exporter, log_dir):
    path = log_dir / "rotated.log"
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=10**9, backupCount=3)
    logger = file_logger(path, handler)
    for i in range(30):
        logger.info("before rotation %d", i)
    exporter.wait_for(lambda s: s.value("log_messages_total", log="rotated", level="info") == 30)
    handler.doRollover()  # renames rotated.log to rotated.log.1 and opens a new file
    for i in range(20):
        logger.error("after rotation %d", i)
    logger.critical("marker")
    scrape = wait_for_marker(exporter, "rotated")
    assert levels(scrape, "rotated") == {"info": 30, "error": 20, "critical": 1}
    assert scrape.value("log_rotations_total", log="rotated") == 1


def test_lines_written_to_the_old_file_around_rotation_still_count(exporter, log_dir):
    """The writer adds lines, the file is moved and recreated before the next poll, and
    the writer goes on with the old file until it is told to reopen (postrotate)."""
    path = log_dir / "rotated.log"
    rotations = exporter.scrape().value("log_rotations_total", log="rotated")
    marker = "2024-05-01 12:00:00,000 CRITICAL app marker\n"
    with open(path, "a", buffering=1) as old:
        old.write("2024-05-01 12:00:00,000 WARNING app written late\n" * 7)
        os.rename(path, log_dir / "rotated.log.2")
        old.write("2024-05-01 12:00:00,000 WARNING app written after the move\n")
        with open(path, "a", buffering=1) as new:
            new.write(marker)
            wait_for_marker(exporter, "rotated", markers=2)  # the exporter reads the new file
            old.write("2024-05-01 12:00:00,000 WARNING app before the reopen\n" * 2)
            new.write(marker)
    scrape = wait_for_marker(exporter, "rotated", markers=3)
    assert scrape.value("log_messages_total", log="rotated", level="warning") == 10
    assert scrape.value("log_rotations_total", log="rotated") == rotations + 1


def test_copytruncate(exporter, log_dir):
    path = log_dir / "copytruncated.log"
    logger = file_logger(path)
    for i in range(40):
        logger.info("before copytruncate %d", i)
    exporter.wait_for(
        lambda s: s.value("log_messages_total", log="copytruncated", level="info") == 40
    )
    shutil.copy(path, log_dir / "copytruncated.log.1")  # what logrotate's copytruncate does
    os.truncate(path, 0)
    for i in range(10):
        logger.warning("after copytruncate %d", i)  # the handler appends: O_APPEND
    logger.critical("marker")
    scrape = wait_for_marker(exporter, "copytruncated")
    assert levels(scrape, "copytruncated") == {"info": 40, "warning": 10, "critical": 1}
    assert scrape.value("log_rotations_total", log="copytruncated") == 1


def test_garbage_invalid_utf8_and_a_10_mb_line(exporter, log_dir):
    record = b"2024-05-01 12:00:00,000 INFO app ok\n"
    with open(log_dir / "garbage.log", "ab") as file:
        file.write(record)
        file.write(b"\x00\x01\x02\xff binary\n\xc3\x28 invalid utf-8\n")  # 2 garbage lines
        file.write(b"2024-05-01 12:00:00,000 ERROR app " + b"x" * (10 << 20) + b"\n")
        file.write(bytes(range(256)).replace(b"\n", b"") + b"\n")  # 1 garbage line
        file.write(record * 3)
        file.write(b"2024-05-01 12:00:00,000 CRITICAL app marker\n")
    scrape = wait_for_marker(exporter, "garbage")
    assert levels(scrape, "garbage") == {"info": 4, "error": 1, "critical": 1}
    assert scrape.value("log_lines_unparsed_total", log="garbage") == 3
    assert scrape.value("log_lines_truncated_total", log="garbage") == 1
    assert scrape.value("log_lines_read_total", log="garbage") == 9
    assert "lines belong to no python record or are no text" in exporter.log()


def test_json_lines_with_their_own_format(exporter, log_dir):
    handler = logging.FileHandler(log_dir / "json.log")
    logger = file_logger(log_dir / "json.log", handler)
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger.info("hello")
    raise_and_log(logger, ConnectionError("redis down"))
    with open(log_dir / "json.log", "a") as file:
        file.write("a plain line in a json log\n")
    logger.critical("marker")
    scrape = wait_for_marker(exporter, "json")
    assert levels(scrape, "json") == {"info": 1, "error": 1, "critical": 1}
    assert exceptions(scrape, "json") == {"ConnectionError": 1}
    assert scrape.value("log_lines_unparsed_total", log="json") == 1


def test_missing_file_then_created_is_read_from_its_start(exporter, log_dir):
    scrape = exporter.scrape()
    assert scrape.value("log_file_readable", log="later") == 0
    assert scrape.value("log_file_open_errors_total", log="later") == 1
    (log_dir / "later.log").write_text("2024-05-01 12:00:00,000 CRITICAL app first line\n")
    scrape = wait_for_marker(exporter, "later")
    assert scrape.value("log_file_readable", log="later") == 1


def test_unreadable_path_is_reported_and_the_rest_is_served(exporter, log_dir):
    scrape = exporter.scrape()
    assert scrape.value("log_file_readable", log="directory") == 0
    assert scrape.value("painel_exporter_collector_success", collector="logs") == 1
    assert "directory" in exporter.log()
    page = exporter.get("/").body
    assert f"directory={log_dir / 'directory'} (python)" in page
    assert "cannot read: not a regular file" in page


def test_every_published_log_metric_is_documented(exporter):
    assert undocumented(exporter.scrape(), ("log_",)) == []


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--log-file", "a.log", "--log-format", "(unclosed"], "not a valid regular expression"),
        (["--log-file", "a.log", "--log-format", r"^\S+ \S+"], "named group 'level'"),
        (["--log-file", "/x/a.log", "--log-file", "/y/a.log"], "two logs are named 'a.log'"),
    ],
)
def test_bad_log_flags_stop_the_exporter_with_what_to_fix(flags, message):
    result = subprocess.run(
        [sys.executable, "-m", "exporter", *flags],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
