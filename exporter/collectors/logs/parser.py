"""Log records out of blocks of whole lines: levels, exception types, unparsed lines.

Formats:
- "python": 'asctime LEVEL logger message', the Python logging format Django projects
  usually write (also '[asctime] LEVEL', 'asctime - LEVEL -', gunicorn's '[asctime] [pid]
  [LEVEL]' and Celery's '[asctime: LEVEL/process]').
- "json": one JSON object per line, as python-json-logger and structlog write them.
- anything else: a regular expression with a named group `level` that matches the start of
  a record (the first line of it).

In the line formats a record is its first line plus the lines that follow it up to the
next record: a traceback, a multi-line message. The record counts once, under its level,
and its exception type is the last line of its (last) traceback, with the dotted name as
written. A line is unparsed when it belongs to no record, or is no text (invalid UTF-8,
control characters): binary garbage never joins a record.

Speed: the work is per block, not per line. One bytes regex finds every record start and
its level in C; lines that are not record starts (rare: tracebacks, garbage) are found by
a second scan and only they are decoded and looked at in Python.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable

from painel.capped import CappedValues

LEVELS = ("debug", "info", "warning", "error", "critical")
OTHER_LEVEL = "other"
MAX_EXCEPTION_NAME = 128

_LEVEL_ALIASES = {
    "DEBUG": "debug",
    "TRACE": "debug",
    "INFO": "info",
    "NOTICE": "info",
    "WARNING": "warning",
    "WARN": "warning",
    "ERROR": "error",
    "ERR": "error",
    "EXCEPTION": "error",
    "CRITICAL": "critical",
    "FATAL": "critical",
}

_PY_TIMESTAMP = (
    rb"\[?\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?: ?(?:Z|[+-]\d\d:?\d\d))?:?\]?"
    rb"(?:[ \t]+-)?[ \t]+(?:\[\d+\][ \t]+)?\[?"
)
_PY_LEVEL = rb"(?P<level>DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL)\b"
PYTHON_START = _PY_TIMESTAMP + _PY_LEVEL
# Most logs use exactly '%(asctime)s %(levelname)s', in brackets or not: this narrower
# pattern (its every match is a match of PYTHON_START) runs twice as fast, and is used
# while it accounts for every line of a block.
_PYTHON_COMMON_START = rb"\[?\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d[.,]\d+\]? " + _PY_LEVEL
# Every python record starts with one of these bytes, so a line that starts otherwise is
# surely no record start: a scan for those is far cheaper than the exact one.
_PYTHON_FIRST_BYTES = rb"[\[\d]"

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_EXCEPTION_LINE = re.compile(r"([^\W\d][\w.]*)(?::|$)")
_TRACEBACK_START = "Traceback (most recent call last):"
_GROUP_TRACEBACK_START = "+ Exception Group Traceback (most recent call last):"
# in an exception group's traceback the group's own line is the first '| Name: ...'
_GROUP_EXCEPTION_LINE = re.compile(r"\s*\| ([^\W\d][\w.]*)(?::|$)")

JSON_LEVEL_KEYS = ("level", "levelname", "severity", "log.level", "loglevel")
JSON_EXCEPTION_KEYS = ("exc_info", "exception", "exc_text", "stack_trace", "stack")


def level_label(raw: bytes | str) -> str:
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", "replace")
    return _LEVEL_ALIASES.get(raw.strip().upper(), OTHER_LEVEL)


class LogCounts:
    """Cumulative counts of one log; distinct exception types capped, then `<other>`."""

    def __init__(self, max_exception_types: int) -> None:
        self._exception_types = CappedValues(max_exception_types, MAX_EXCEPTION_NAME)
        self.levels: dict[str, int] = dict.fromkeys(LEVELS, 0)
        self.exceptions: dict[str, int] = {}
        self.unparsed = 0
        self.lines = 0

    def add_level(self, level: str, count: int = 1) -> None:
        self.levels[level] = self.levels.get(level, 0) + count

    def add_exception(self, name: str) -> None:
        name = self._exception_types(name)
        self.exceptions[name] = self.exceptions.get(name, 0) + 1


class TracebackTracker:
    """Follows the lines of one record and keeps the type of the last exception printed."""

    def __init__(self) -> None:
        self.exception: str | None = None
        self._in_traceback = False
        self._in_group = False

    def reset(self) -> None:
        self.exception = None
        self._in_traceback = self._in_group = False

    def line(self, text: str) -> None:
        if text.startswith(_TRACEBACK_START):
            self._in_traceback = True
        elif text.lstrip().startswith(_GROUP_TRACEBACK_START):
            self._in_group = True
        elif self._in_group:
            match = _GROUP_EXCEPTION_LINE.match(text)
            if match is not None:
                self.exception = match.group(1)
                self._in_group = False
        elif self._in_traceback and text and not text[0].isspace():
            # the first unindented line after the frames: 'pkg.Error: message'
            match = _EXCEPTION_LINE.match(text)
            if match is not None:
                self.exception = match.group(1)
            self._in_traceback = False


def exception_in_text(text: str) -> str | None:
    tracker = TracebackTracker()
    for line in text.splitlines():
        tracker.line(line)
    return tracker.exception


class RecordParser:
    """Feed blocks of whole lines (each ending in a newline); counts go into `counts`."""

    def __init__(self, counts: LogCounts) -> None:
        self.counts = counts

    def feed(self, block: bytes) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        """The log went quiet: count what the last record has shown so far."""


class LineRecordParser(RecordParser):
    """Records start at lines that match `start` (bytes regex with a `level` group).

    `common` (optional) is a narrower, faster start pattern tried first, and
    `first_bytes` a class of bytes that every record start begins with: together they
    settle most blocks without the exact scan for lines that are no record start.
    """

    def __init__(
        self,
        counts: LogCounts,
        start: bytes,
        first_bytes: bytes | None = None,
        common: bytes | None = None,
    ) -> None:
        super().__init__(counts)
        # every line of a block is matched after its preceding newline: a literal prefix
        # that the regex engine searches fast, unlike ^ in MULTILINE mode
        self._start = self._compile_start(start)
        self._common = self._compile_start(common) if common else None
        start = start.removeprefix(b"^")
        self._gap = re.compile(rb"\n((?!(?:" + start + rb"))[^\n]*)", re.MULTILINE)
        self._quick_gap = (
            re.compile(rb"\n((?!" + first_bytes + rb")[^\n]*)") if first_bytes else None
        )
        self._open = False  # a record has started and may still get lines
        self._tracker = TracebackTracker()

    @staticmethod
    def _compile_start(start: bytes) -> tuple[re.Pattern, int | None]:
        """The pattern, and where findall puts the level (None: it returns only that)."""
        pattern = re.compile(rb"\n(?:" + start.removeprefix(b"^") + rb")", re.MULTILINE)
        index = pattern.groupindex["level"] - 1
        return pattern, None if pattern.groups == 1 else index

    def feed(self, block: bytes) -> None:
        text = b"\n" + block[:-1]
        n_lines = block.count(b"\n")
        self.counts.lines += n_lines
        found, gaps = self._starts_and_gaps(text, n_lines)
        for raw, count in Counter(found).items():
            self.counts.add_level(level_label(raw), count)
        position = 0  # where the next line not yet seen starts
        for gap in gaps:
            if gap.start() != position:
                self._next_record()  # record starts lie between the previous gap and this
            self._continuation(gap.group(1))
            position = gap.end()
        if position != len(text):
            self._next_record()

    def _starts_and_gaps(self, text: bytes, n_lines: int) -> tuple[list, Iterable[re.Match]]:
        """The level of every record start, and the lines that are none, in order."""
        if self._common is not None:
            found = self._levels(self._common, text)
            if len(found) == n_lines:
                return found, ()
            gaps = list(self._quick_gap.finditer(text)) if self._quick_gap else []
            if len(found) + len(gaps) == n_lines:
                return found, gaps
        found = self._levels(self._start, text)
        if len(found) == n_lines:
            return found, ()
        if self._quick_gap is not None:
            gaps = list(self._quick_gap.finditer(text))
            if len(found) + len(gaps) == n_lines:
                return found, gaps
        # some line starts like a record but is none: find such lines exactly
        return found, self._gap.finditer(text)

    @staticmethod
    def _levels(start: tuple[re.Pattern, int | None], text: bytes) -> list:
        pattern, index = start
        found = pattern.findall(text)
        return found if index is None else [groups[index] for groups in found]

    def flush(self) -> None:
        self._count_exception()

    def _next_record(self) -> None:
        self._count_exception()
        self._open = True

    def _count_exception(self) -> None:
        if self._tracker.exception is not None:
            self.counts.add_exception(self._tracker.exception)
        self._tracker.reset()

    def _continuation(self, raw: bytes) -> None:
        try:
            line = raw.decode("utf-8").removesuffix("\r")
        except UnicodeDecodeError:
            line = None
        if line is None or not self._open or _CONTROL.search(line):
            self.counts.unparsed += 1
            return
        self._tracker.line(line)


class JsonLinesParser(RecordParser):
    """One record per line; a line that is not a JSON object is unparsed."""

    def feed(self, block: bytes) -> None:
        counts = self.counts
        lines = block.split(b"\n")[:-1]
        counts.lines += len(lines)
        for line in lines:
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):  # also invalid UTF-8, absurd nesting
                record = None
            if not isinstance(record, dict):
                counts.unparsed += 1
                continue
            level = next((v for k in JSON_LEVEL_KEYS if isinstance(v := record.get(k), str)), None)
            counts.add_level(level_label(level) if level else OTHER_LEVEL)
            exception = _json_exception(record)
            if exception:
                counts.add_exception(exception)


def _json_exception(record: dict) -> str | None:
    for key in JSON_EXCEPTION_KEYS:
        value = record.get(key)
        if isinstance(value, str):
            return exception_in_text(value)
        # structlog's dict_tracebacks: the raised exception first, then its causes
        if isinstance(value, list) and value and isinstance(value[0], dict):
            name = value[0].get("exc_type")
            return name if isinstance(name, str) else None
    return None


def validate_format(fmt: str) -> None:
    """Raise ValueError saying what to fix when `fmt` is no usable format."""
    if fmt in ("python", "json"):
        return
    try:
        pattern = re.compile(fmt.encode())
    except re.error as exc:
        raise ValueError(f"log format {fmt!r} is not a valid regular expression: {exc}") from None
    if "level" not in pattern.groupindex:
        raise ValueError(
            f"log format {fmt!r}: use python, json, or a regular expression with a named "
            "group 'level', like '^(?P<time>\\S+ \\S+) (?P<level>[A-Z]+) '"
        )


def make_parser(fmt: str, counts: LogCounts) -> RecordParser:
    validate_format(fmt)
    if fmt == "python":
        return LineRecordParser(counts, PYTHON_START, _PYTHON_FIRST_BYTES, _PYTHON_COMMON_START)
    if fmt == "json":
        return JsonLinesParser(counts)
    return LineRecordParser(counts, fmt.encode())
