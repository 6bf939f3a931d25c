"""The per-interval counts the range tables add up (painel.django.increase.rules) lose
requests when read at now, and lose none when read `range_rules_delay` behind, on a real
Prometheus scraping a slow target.

Prometheus stamps a scrape with the time it started and stores it when the answer has
arrived. An evaluation of the rules between the two reads the sample before; the next one
takes the difference from the new sample, stamped before that evaluation: what the counter
grew by in between is counted by neither. Here each of two targets answers its scrapes
STORE_SECONDS late, its counter grown by STEP at every scrape, and is scraped by a
Prometheus of its own (so that each counter grows with its own scrapes only): one with the
rules read at now (range_rules_delay None), one with them read DELAY behind, longer than a
scrape takes. The recorded counts of evaluations t1..tn telescope to what the counter grew
by between the instants they read, tn - delay and t1 - interval - delay: with the delay
they add up to exactly that; at now they add up to less.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from local_services.ports import free_port
from local_services.prometheus import PrometheusServer
from mixin.config import MixinConfig
from prometheus.rules_generator import render_rule_files
from tests.support.mixin_render import SHORT_RANGE_RULES

pytestmark = pytest.mark.slow

SCRAPE = 4  # seconds; the scrape timeout the same, so that a scrape waits out the answer
STORE_SECONDS = 2.5  # how late the targets answer: each sample stored that long after its stamp
STEP = 3  # what a counter grows by at every scrape
INTERVAL = int(SHORT_RANGE_RULES["range_rules_interval"].removesuffix("s"))  # 10 s
DELAY = 5  # seconds behind now, longer than STORE_SECONDS (and what storing costs beyond it)
RUN = 70  # about 7 evaluations of each server's rules
# An evaluation runs a little after its timestamp, a sample is stored a little after its
# answer: an evaluation this close to an answer may or may not have read its sample.
MARGIN = 0.5
RECORDED = "endpoint_method_tenant:django_http_requests:increase1m"
RAW = 'django_http_requests_total{job="django"}'
SERIES = 'django_http_requests_total{method="GET",endpoint="/x/",tenant="t",status="200"}'


class SlowTarget:
    """An app's /metrics that answers STORE_SECONDS late, its counter grown by STEP at
    every scrape."""

    def __init__(self) -> None:
        self.port = free_port()
        self.scrapes = 0
        self.answered: list[float] = []  # when each scrape's answer was sent
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                time.sleep(STORE_SECONDS)
                target.scrapes += 1  # one scraper: no two answers at once
                body = (
                    f"# TYPE django_http_requests_total counter\n{SERIES} {target.scrapes * STEP}\n"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    return  # Prometheus stopped during the scrape
                target.answered.append(time.time())

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> SlowTarget:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def increase_rules(out: Path, delay: int | None) -> list[Path]:
    """The per-interval rules alone, rendered as the end-to-end tests render them
    (SHORT_RANGE_RULES) but read `delay` seconds behind now, or at now for None."""
    config = MixinConfig(
        **{**SHORT_RANGE_RULES, "range_rules_delay": None if delay is None else f"{delay}s"}
    )
    doc = yaml.safe_load(render_rule_files(config)["recording.yml"])
    (group,) = [g for g in doc["groups"] if g["name"] == "painel.django.increase.rules"]
    out.mkdir(parents=True, exist_ok=True)
    path = out / "increase.yml"
    path.write_text(yaml.safe_dump({"groups": [group]}, sort_keys=False))
    return [path]


def prometheus_for(workdir: Path, target: SlowTarget, delay: int | None) -> PrometheusServer:
    return PrometheusServer(
        workdir,
        [],
        [],
        rule_files=increase_rules(workdir / "rules", delay),
        interval=f"{SCRAPE}s",
        scrape_configs=[
            {
                "job_name": "django",  # the rules' app_job_selector
                "scrape_interval": f"{SCRAPE}s",
                "scrape_timeout": f"{SCRAPE}s",
                "static_configs": [{"targets": [target.addr]}],
            }
        ],
    )


def counted_and_grown(server: PrometheusServer, target: SlowTarget, delay: int, end: float) -> dict:
    """The recorded counts of the evaluations up to `end` that found the counter at both
    instants they read, added up by sum_over_time; what the raw counter grew by between
    the first and last of those instants; and, for each evaluation a scrape was in flight
    at (stamped before it, answered after it or less than MARGIN before), how long before
    that scrape's answer it ran."""
    (series,) = server.query(f"{RECORDED}[5m]", end)
    times = [float(t) for t, _ in series["values"]]
    (raw,) = server.query(f"{RAW}[5m]", end)
    born = float(raw["values"][0][0])
    # The first evaluations counted from the counter's first sample (it had no earlier one).
    times = [t for t in times if t - INTERVAL - delay >= born]
    # A skipped evaluation would leave an interval uncounted whatever the delay.
    steps = [round(b - a, 3) for a, b in zip(times, times[1:], strict=False)]
    assert steps == [INTERVAL] * (len(times) - 1), times
    first, last = times[0], times[-1]
    window = f"{round((last - first) * 1000) + 1000}ms"  # t1..tn, not the one before t1
    counted = server.value(f"sum(sum_over_time({RECORDED}[{window}]))", last)
    grown = server.value(RAW, round(last - delay, 3)) - server.value(
        RAW, round(first - INTERVAL - delay, 3)
    )
    # The sample of value n * STEP is the n-th scrape's answer.
    answered = {float(t): target.answered[int(float(v)) // STEP - 1] for t, v in raw["values"]}
    in_flight = [
        round(answer - t, 3)
        for t in times
        for stamp, answer in answered.items()
        if stamp <= t < answer + MARGIN
    ]
    return {"evaluations": len(times), "counted": counted, "grown": grown, "in flight": in_flight}


def test_range_rules_read_behind_now_count_what_slow_scrapes_bring(tmp_path):
    delays = {"at now": None, "delayed": DELAY}
    targets = {name: SlowTarget() for name in delays}
    servers = {
        name: prometheus_for(tmp_path / name.replace(" ", "-"), targets[name], delay)
        for name, delay in delays.items()
    }
    started = []
    try:
        for name in delays:
            started.append(targets[name].start())
            started.append(servers[name].start())
        time.sleep(RUN)
        end = time.time()
        time.sleep(STORE_SECONDS + 1)  # every scrape stamped before `end` stored
        results = {
            name: counted_and_grown(servers[name], targets[name], delay or 0, end)
            for name, delay in delays.items()
        }
        # The premise: every scrape waited out the target's answer.
        for server in servers.values():
            quickest = server.value('min_over_time(scrape_duration_seconds{job="django"}[5m])')
            assert quickest >= STORE_SECONDS
    finally:
        for service in reversed(started):
            service.stop()
    for result in results.values():
        assert result["evaluations"] >= 4, results
        assert result["grown"] >= result["evaluations"] * STEP, results
        # Evaluations every 10 s take turns at two phases 2 s apart in the 4 s scrape
        # cycle, and a scrape is surely in flight for 2 s of it (2.5 s less MARGIN): one
        # evaluation in two at least ran while a scrape was in flight, whatever the delay.
        surely = [f for f in result["in flight"] if f > MARGIN]
        assert len(surely) >= result["evaluations"] // 2, results
    # Read behind now, the scrapes in flight at an evaluation made no difference.
    delayed = results["delayed"]
    assert delayed["counted"] == delayed["grown"], results
    # Read at now, each scrape in flight at an evaluation went uncounted, STEP each (seen:
    # 6 to 18 of the 36 to 45 requests of 5 or 6 evaluations).
    at_now = results["at now"]
    lost = at_now["grown"] - at_now["counted"]
    surely = [f for f in at_now["in flight"] if f > MARGIN]
    assert STEP * len(surely) <= lost <= STEP * len(at_now["in flight"]), results
