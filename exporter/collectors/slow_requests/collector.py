"""The 10 slowest requests of the last 24 hours, from the middleware's slow-request log.

The middleware writes one JSON object per slow request on the logger
`painel.slow_requests` (django_middleware/slowlog.py). This collector follows that file and
publishes the current top 10 as one series per request, so a Grafana table shows them and
the series churn by one per new entry at most.

A restart keeps the table without a state file: at start the collector reads back the
last READBACK_BYTES of the file (bounded work) and keeps what is under 24 hours old, then
follows the file like `tail -F`. A record written before a rotation of the file is not
read back.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import threading
import time
from collections.abc import Iterable
from datetime import datetime, timezone

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from exporter.collectors.base import Collector
from exporter.collectors.slow_requests.ranking import SlowestRequests, SlowRequest
from exporter.follow import FileFollower, FollowLoop
from exporter.throttled_log import ThrottledWarning

NAME = "slow_requests"
TOP = 10
WINDOW_SECONDS = 24 * 3600.0
# 64 MiB hold about 250,000 records: three slow requests a second for a whole day
READBACK_BYTES = 64 << 20
MAX_LABEL_LENGTH = 128
NO_VALUE = "<none>"
LABELS = ["endpoint", "method", "tenant", "user", "request_id"]

log = logging.getLogger("painel.exporter.slow_requests")


def add_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--slow-request-log",
        metavar="PATH",
        help="the file the middleware's painel.slow_requests logger writes (JSON lines); "
        "its last 24 hours are read back at start",
    )


def has_target(args: argparse.Namespace) -> bool:
    return bool(args.slow_request_log)


def build(args: argparse.Namespace) -> list[Collector]:
    return [SlowRequestsCollector(args.slow_request_log)]


class InvalidRecord(ValueError):
    pass


def parse_record(line: bytes) -> SlowRequest:
    """One slow-request record; a formatter may have put text before the JSON object."""
    start = line.find(b"{")
    try:
        record = json.loads(line[start:]) if start >= 0 else None
    except (ValueError, RecursionError):  # also invalid UTF-8, absurd nesting
        record = None
    if not isinstance(record, dict):
        raise InvalidRecord("not a JSON object")
    duration = record.get("duration_seconds")
    if isinstance(duration, bool) or not isinstance(duration, (int, float)):
        raise InvalidRecord("duration_seconds is not a number")
    try:
        duration = float(duration)
    except OverflowError:  # an integer too large for a float
        duration = math.inf
    if not (math.isfinite(duration) and duration >= 0):
        raise InvalidRecord("duration_seconds is not a finite number >= 0")
    for key in ("endpoint", "method"):
        if not isinstance(record.get(key), str) or not record[key]:
            raise InvalidRecord(f"{key} is missing")
    return SlowRequest(
        endpoint=_label(record["endpoint"]),
        method=_label(record["method"]),
        tenant=_label(record.get("tenant")),
        user=_label(record.get("user")),
        request_id=_label(record.get("request_id")),
        duration=duration,
        timestamp=_unix_time(record.get("timestamp")),
    )


def _label(value: object) -> str:
    if value is None or value == "":
        return NO_VALUE
    return str(value)[:MAX_LABEL_LENGTH]


def _unix_time(value: object) -> float:
    if not isinstance(value, str):
        raise InvalidRecord("timestamp is missing")
    try:
        # fromisoformat reads 'Z' only from Python 3.11 on
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRecord("timestamp is not ISO 8601") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)  # the middleware writes UTC
    return moment.timestamp()


class SlowRequestsCollector(Collector):
    name = NAME

    def __init__(self, path: str, readback_bytes: int = READBACK_BYTES) -> None:
        self.path = path
        self.follower = FileFollower(path, readback_bytes=readback_bytes)
        self.table = SlowestRequests(size=TOP, window=WINDOW_SECONDS)
        self.invalid = 0
        self._lock = threading.Lock()
        self._warn = ThrottledWarning(log)
        self._loop = FollowLoop("follow-slow-requests", [(self.follower, self._consume, _idle)])

    def start(self) -> None:
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop()

    def status(self) -> dict:
        with self._lock:
            tracked = len(self.table)
        error = self.follower.error
        result = f"cannot read: {error}" if error else f"{tracked} requests tracked"
        return {"targets": [{"target": self.path, "result": result}]}

    def _consume(self, block: bytes) -> None:
        now = time.time()
        for line in block.split(b"\n")[:-1]:
            try:
                request = parse_record(line)
            except InvalidRecord as exc:
                self.invalid += 1
                self._warn("%s: skipped a slow-request record: %s", self.path, exc)
                continue
            with self._lock:
                self.table.add(request, now)

    def collect(self) -> Iterable[Metric]:
        duration = GaugeMetricFamily(
            "painel_slow_request_duration_seconds",
            f"Duration of each of the {TOP} slowest requests of the last 24 hours.",
            labels=LABELS,
        )
        timestamp = GaugeMetricFamily(
            "painel_slow_request_timestamp_seconds",
            f"When each of the {TOP} slowest requests of the last 24 hours was logged.",
            labels=LABELS,
        )
        with self._lock:
            top = self.table.top(time.time())
        for request in top:
            duration.add_metric(list(request.labels()), request.duration)
            timestamp.add_metric(list(request.labels()), request.timestamp)
        invalid = CounterMetricFamily(
            "painel_slow_request_records_invalid",
            "Lines of the slow-request log that were no valid record, skipped.",
            value=self.invalid,
        )
        return [duration, timestamp, invalid]


def _idle() -> None:
    """Slow-request records are single lines: nothing waits for more."""
