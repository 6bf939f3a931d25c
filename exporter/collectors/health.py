"""Health probes: each --health-url fetched every --interval on its own thread.

blackbox_exporter's names (probe_success, probe_duration_seconds, probe_http_status_code)
plus health_component_up from the middleware's /health JSON, and counters of probes made
and failed (per target, and per component /health reported not ok). Probing on a schedule of its
own, not per scrape, keeps a slow target from ever holding up /metrics (blackbox users
lose the whole probe when the probe outlasts Prometheus's scrape timeout) and keeps the
probe rate independent of how many Prometheus servers scrape us.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit, urlunsplit

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from exporter.collectors.base import Collector, ConfigError
from exporter.config import seconds
from exporter.credentials import mask_url, scrub
from painel.capped import CappedValues

NAME = "health"
log = logging.getLogger("painel.exporter.health")

# No proxy from HTTP_PROXY and friends: a probe checks the app from beside it, as
# blackbox_exporter does unless told otherwise.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
DEFAULT_TIMEOUT = 5.0
MAX_BODY_BYTES = 1 << 20  # a /health answer is a few hundred bytes; more is not one
MAX_COMPONENTS = 50  # per target: component names come from the remote end
MAX_COMPONENT_NAME = 64


def add_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--health-url",
        action="append",
        default=[],
        metavar="URL",
        help="a health endpoint to probe every --interval, like http://app:8000/health "
        "(user:password@ in the URL is sent as basic auth; repeatable)",
    )
    parser.add_argument(
        "--health-timeout",
        type=seconds,
        default=None,
        metavar="SECONDS",
        help="a probe that takes longer fails; below --interval "
        "(default: 5, or 80%% of --interval when that is shorter)",
    )


def has_target(args: argparse.Namespace) -> bool:
    return bool(args.health_url)


def build(args: argparse.Namespace) -> list[Collector]:
    timeout = args.health_timeout or min(DEFAULT_TIMEOUT, 0.8 * args.interval)
    if timeout >= args.interval:
        raise ConfigError(
            f"--health-timeout {timeout:g} must be shorter than --interval {args.interval:g}"
        )
    probes = [Probe(url, timeout) for url in args.health_url]
    labels = [p.target for p in probes]
    for label in labels:
        if labels.count(label) > 1:
            raise ConfigError(f"--health-url {label} is given twice")
    return [HealthCollector(probes, args.interval)]


@dataclass(frozen=True)
class ProbeResult:
    success: bool
    duration: float
    status_code: int  # 0: no HTTP answer at all, as blackbox_exporter reports it
    components: dict[str, bool] | None = None  # None: the body was no /health JSON
    error: str = ""
    at: float = field(default_factory=time.time)


class Probe:
    """One target: its URL (secret kept here), its masked label and its latest result."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.target = mask_url(url)
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a port that is no number
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"--health-url {self.target}: use an http:// or https:// URL with a host "
                "and, if any, a numeric port"
            )
        self.timeout = timeout
        self._headers = {"Accept": "application/json", "User-Agent": "painel-exporter"}
        if parts.username is not None:
            credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            self._headers["Authorization"] = (
                "Basic " + base64.b64encode(credentials.encode()).decode()
            )
        netloc = parts.netloc.rpartition("@")[2]
        self._plain_url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
        self.last: ProbeResult | None = None
        # Counters, written by this target's probe thread under the collector's lock.
        self.invalid_responses = 0
        self.checks = 0
        self.failures = 0
        # Names come from the remote end and may change between answers: bounded over the
        # process's life, not only per answer (later new names count as <other>).
        self.component_names = CappedValues(MAX_COMPONENTS, MAX_COMPONENT_NAME)
        self.component_failures: dict[str, int] = {}

    def run(self) -> ProbeResult:
        started = time.perf_counter()
        deadline = started + self.timeout
        request = urllib.request.Request(self._plain_url, headers=self._headers)
        code = 0
        try:
            try:
                with _OPENER.open(request, timeout=self.timeout) as answer:
                    code = answer.status
                    body = _read_until(answer, deadline)
            except urllib.error.HTTPError as error:  # 4xx/5xx: still an answer, read it
                code = error.code
                body = _read_until(error.fp, deadline) if error.fp else b""
        except _TooSlow:
            duration = time.perf_counter() - started
            return ProbeResult(False, duration, code, error=f"took over {self.timeout:g}s")
        except (OSError, ValueError) as exc:
            duration = time.perf_counter() - started
            return ProbeResult(False, duration, 0, error=scrub(_reason(exc), self.url))
        duration = time.perf_counter() - started
        if duration > self.timeout:  # the last read ended past the deadline
            return ProbeResult(False, duration, code, error=f"took over {self.timeout:g}s")
        healthy, components, problem = parse_health(body)
        if problem:
            self.invalid_responses += 1
            return ProbeResult(False, duration, code, error=f"HTTP {code}, {problem}")
        ok = 200 <= code < 300 and healthy
        return ProbeResult(ok, duration, code, components, "" if ok else f"HTTP {code}")


class _TooSlow(Exception):
    """The answer was still arriving at the probe's deadline."""


def _read_until(answer, deadline: float) -> bytes:
    """The body (at most MAX_BODY_BYTES + 1 bytes), or _TooSlow past the deadline.

    The socket timeout restarts with every byte received, so a target that trickles its
    answer would hold the probe (and leave its last result stale) for as long as it
    likes; the wall clock between reads ends it.
    """
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_BODY_BYTES:
        if time.perf_counter() > deadline:
            raise _TooSlow
        chunk = answer.read1(MAX_BODY_BYTES + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _reason(exc: Exception) -> str:
    if isinstance(exc, urllib.error.URLError):
        exc = exc.reason if isinstance(exc.reason, Exception) else exc
    return f"{type(exc).__name__}: {exc}"


def parse_health(body: bytes) -> tuple[bool, dict[str, bool], str]:
    """The middleware's /health JSON -> (status ok, {component: up}, problem or "")."""
    if len(body) > MAX_BODY_BYTES:
        return False, {}, f"body over {MAX_BODY_BYTES} bytes"
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return False, {}, "body is not JSON"
    if not isinstance(document, dict) or document.get("status") not in ("ok", "error"):
        return False, {}, 'body has no "status": "ok" or "error"'
    raw = document.get("components", {})
    if not isinstance(raw, dict):
        return False, {}, '"components" is not an object'
    components = {
        str(name)[:MAX_COMPONENT_NAME]: isinstance(state, dict) and state.get("status") == "ok"
        for name, state in list(raw.items())[:MAX_COMPONENTS]
    }
    return document["status"] == "ok", components, ""


class HealthCollector(Collector):
    name = NAME

    def __init__(self, probes: list[Probe], interval: float) -> None:
        self.probes = probes
        self.interval = interval
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._loop, args=(p,), name=f"probe-{i}", daemon=True)
            for i, p in enumerate(probes)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=1)

    def _loop(self, probe: Probe) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                result = probe.run()
            except Exception as exc:  # never let one odd answer end the probing
                log.exception("probe of %s failed unexpectedly", probe.target)
                result = ProbeResult(False, 0.0, 0, error=scrub(repr(exc), probe.url))
            self._record(probe, result)
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def _record(self, probe: Probe, result: ProbeResult) -> None:
        with self._lock:
            previous, probe.last = probe.last, result
            probe.checks += 1
            probe.failures += 0 if result.success else 1
            for component, up in (result.components or {}).items():
                # created at 0 when first reported, so a later first failure is a step
                name = probe.component_names(component)
                failures = probe.component_failures
                failures[name] = failures.get(name, 0) + (0 if up else 1)
        if not result.success and (previous is None or previous.error != result.error):
            log.warning("health %s failed: %s", probe.target, result.error)
        elif result.success and previous is not None and not previous.success:
            log.info("health %s is healthy again", probe.target)

    def status(self) -> dict:
        rows = []
        for probe in self.probes:
            last = probe.last
            if last is None:
                result = "not probed yet"
            elif last.success:
                result = f"ok, HTTP {last.status_code} in {last.duration * 1000:.0f} ms"
            else:
                result = f"failed: {last.error}"
            rows.append({"target": probe.target, "result": result})
        return {"interval": f"{self.interval:g}s", "targets": rows}

    def collect(self) -> Iterable[Metric]:
        success = GaugeMetricFamily(
            "probe_success", "1 when the last probe got a healthy answer.", labels=["target"]
        )
        duration = GaugeMetricFamily(
            "probe_duration_seconds", "How long the last probe took.", labels=["target"]
        )
        status_code = GaugeMetricFamily(
            "probe_http_status_code",
            "HTTP status of the last probe; 0 when nothing answered.",
            labels=["target"],
        )
        component_up = GaugeMetricFamily(
            "health_component_up",
            "1 when /health reported the component ok in the last probe.",
            labels=["target", "component"],
        )
        invalid = CounterMetricFamily(
            "health_invalid_responses",
            "Probe answers whose body was not the /health JSON.",
            labels=["target"],
        )
        checks = CounterMetricFamily(
            "health_checks", "Probes made (one every --interval).", labels=["target"]
        )
        failures = CounterMetricFamily(
            "health_check_failures",
            "Probes that failed (probe_success 0): no answer, too slow, not 2xx, not ok.",
            labels=["target"],
        )
        component_failures = CounterMetricFamily(
            "health_component_failures",
            "Probes in which /health reported the component not ok.",
            labels=["target", "component"],
        )
        with self._lock:
            latest = [
                (p, p.last, p.invalid_responses, p.checks, p.failures, dict(p.component_failures))
                for p in self.probes
            ]
        for probe, result, invalid_count, check_count, failure_count, by_component in latest:
            # every target's counters from start-up, so its first failure is a step from 0
            invalid.add_metric([probe.target], invalid_count)
            checks.add_metric([probe.target], check_count)
            failures.add_metric([probe.target], failure_count)
            for component, count in by_component.items():
                component_failures.add_metric([probe.target, component], count)
            if result is None:
                continue
            success.add_metric([probe.target], 1.0 if result.success else 0.0)
            duration.add_metric([probe.target], result.duration)
            status_code.add_metric([probe.target], result.status_code)
            for component, up in (result.components or {}).items():
                component_up.add_metric([probe.target, component], 1.0 if up else 0.0)
        return [
            success, duration, status_code, component_up, invalid,
            checks, failures, component_failures,
        ]  # fmt: skip
