"""Log files followed like `tail -F`: records by level, exception types, what was skipped.

Each --log-file is followed from its end (exporter/follow.py) by one background thread;
its blocks of lines go to the record parser of its format (parser.py). A scrape
only copies the counters, so it never waits on a file.
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from exporter.collectors.base import Collector, ConfigError
from exporter.collectors.logs.parser import LogCounts, RecordParser, make_parser, validate_format
from exporter.follow import FileFollower, FollowLoop
from exporter.throttled_log import ThrottledWarning

NAME = "logs"
logger = logging.getLogger("painel.exporter.logs")
DEFAULT_FORMAT = "python"
DEFAULT_MAX_EXCEPTION_TYPES = 100


def add_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-file",
        action="append",
        default=[],
        metavar="[NAME=]PATH",
        help="a log file to follow like tail -F (repeatable); NAME is its `log` label "
        "(default: the file's base name)",
    )
    parser.add_argument(
        "--log-format",
        action="append",
        default=[],
        metavar="[NAME=]FORMAT",
        help="python ('asctime LEVEL logger message'), json (python-json-logger, "
        "structlog) or a regular expression with a named group 'level' matching a record's "
        "first line; with NAME= for that log only, else for every log (default python)",
    )
    parser.add_argument(
        "--log-max-exception-types",
        type=int,
        default=DEFAULT_MAX_EXCEPTION_TYPES,
        metavar="N",
        help="distinct exception types per log; later ones count as <other> (default %(default)s)",
    )


def has_target(args: argparse.Namespace) -> bool:
    return bool(args.log_file)


@dataclass(frozen=True)
class LogSpec:
    name: str
    path: str
    format: str


def parse_specs(files: list[str], formats: list[str]) -> list[LogSpec]:
    """The followed logs from the flags' values; ConfigError says what to fix."""
    paths: dict[str, str] = {}
    for value in files:
        name, sep, path = value.partition("=")
        if not sep:
            name, path = os.path.basename(value), value
        if not name or not path:
            raise ConfigError(f"--log-file {value!r}: use PATH or NAME=PATH")
        if name in paths:
            raise ConfigError(f"--log-file: two logs are named {name!r}; give one NAME=PATH")
        paths[name] = path
    default, per_log = DEFAULT_FORMAT, {}
    for value in formats:
        # a regex may hold '=' too: NAME= applies only when NAME is a followed log
        name, sep, fmt = value.partition("=")
        if not (sep and name in paths):
            name, fmt = "", value
        try:
            validate_format(fmt)
        except ValueError as exc:
            raise ConfigError(f"--log-format: {exc}") from None
        if name:
            per_log[name] = fmt
        else:
            default = fmt
    return [LogSpec(name, path, per_log.get(name, default)) for name, path in paths.items()]


def build(args: argparse.Namespace) -> list[Collector]:
    if args.log_max_exception_types < 1:
        raise ConfigError("--log-max-exception-types: use a whole number of at least 1")
    specs = parse_specs(args.log_file, args.log_format)
    return [LogsCollector(specs, args.log_max_exception_types)]


class _FollowedLog:
    def __init__(self, spec: LogSpec, max_exception_types: int, lock: threading.Lock) -> None:
        self.spec = spec
        self.follower = FileFollower(spec.path)
        self.counts = LogCounts(max_exception_types)
        self.parser: RecordParser = make_parser(spec.format, self.counts)
        self._lock = lock
        self._warn_unparsed = ThrottledWarning(logger)

    def consume(self, block: bytes) -> None:
        with self._lock:
            before = self.counts.unparsed
            self.parser.feed(block)
            unparsed = self.counts.unparsed - before
        if unparsed:
            self._warn_unparsed(
                "%s: %d lines belong to no %s record or are no text; counted in "
                "log_lines_unparsed_total",
                self.spec.path,
                unparsed,
                self.spec.format if self.spec.format in ("python", "json") else "regex",
            )

    def idle(self) -> None:
        with self._lock:
            self.parser.flush()


class LogsCollector(Collector):
    name = NAME

    def __init__(self, specs: list[LogSpec], max_exception_types: int) -> None:
        self._lock = threading.Lock()
        self.logs = [_FollowedLog(s, max_exception_types, self._lock) for s in specs]
        self._loop = FollowLoop(
            "follow-logs", [(log.follower, log.consume, log.idle) for log in self.logs]
        )

    def start(self) -> None:
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop()

    def status(self) -> dict:
        rows = []
        with self._lock:
            for log in self.logs:
                spec, error = log.spec, log.follower.error
                result = f"cannot read: {error}" if error else f"{log.counts.lines} lines read"
                rows.append(
                    {"target": f"{spec.name}={spec.path} ({spec.format})", "result": result}
                )
        return {"targets": rows}

    def collect(self) -> Iterable[Metric]:
        def family(kind, name, doc, *labels):
            return kind(name, doc, labels=["log", *labels])

        messages = family(CounterMetricFamily, "log_messages", "Log records, by level.", "level")
        exceptions = family(
            CounterMetricFamily,
            "log_exceptions",
            "Log records with a traceback, by the type on its last line.",
            "exception",
        )
        unparsed = family(
            CounterMetricFamily,
            "log_lines_unparsed",
            "Lines that belong to no record or are no text (invalid UTF-8, binary).",
        )
        rotations = family(
            CounterMetricFamily,
            "log_rotations",
            "Rotations seen: rename-and-create or copytruncate.",
        )
        truncated = family(
            CounterMetricFamily,
            "log_lines_truncated",
            "Lines longer than 1 MiB, cut to their first MiB before parsing.",
        )
        lines = family(CounterMetricFamily, "log_lines_read", "Whole lines read.")
        readable = family(
            GaugeMetricFamily, "log_file_readable", "1 when the file is open and read, else 0."
        )
        open_errors = family(
            CounterMetricFamily,
            "log_file_open_errors",
            "Times the file became missing or unreadable.",
        )
        with self._lock:
            for log in self.logs:
                name, follower, counts = log.spec.name, log.follower, log.counts
                for level, count in counts.levels.items():
                    messages.add_metric([name, level], count)
                for exception, count in counts.exceptions.items():
                    exceptions.add_metric([name, exception], count)
                unparsed.add_metric([name], counts.unparsed)
                rotations.add_metric([name], follower.rotations)
                truncated.add_metric([name], follower.truncated_lines)
                lines.add_metric([name], counts.lines)
                readable.add_metric([name], 1.0 if follower.reading else 0.0)
                open_errors.add_metric([name], follower.open_errors)
        return [messages, exceptions, unparsed, rotations, truncated, lines, readable, open_errors]
