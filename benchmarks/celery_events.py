"""Celery events at volume: painel-exporter against celery-exporter, on one broker in one run.

    .venv/bin/python -m benchmarks.celery_events --celery-exporter-python VENV/bin/python \
        [--tasks 20000] [--workers 2]

celery-exporter (danihodovic's, PyPI `prometheus-exporter-celery`) needs a virtual
environment of its own with celery and kombu 5.5 (see the README's Community dashboards
section): give its python. One redis-server on a free port is the broker; a fleet of real
`celery worker` processes (solo pool, events on) runs a trivial task; both exporters receive
the events stream at the same time. Each task makes 4 events (task_send_sent_event on:
sent, received, started, succeeded). Two phases, each a batch of --tasks:

- live: the batch is published as fast as this process can while the workers run it and
  both exporters count; the workers and the producer set the pace.
- backlog: both exporters are paused (SIGSTOP) while the next batch runs, Redis keeping
  their events (no pub/sub buffer limit on this server), then resumed at the same moment:
  how fast each drains the same backlog is the rate it can sustain.

Both /metrics are polled (once a second live, five times a second in the backlog) until
each counts every task or stops progressing. Printed for each exporter and phase: the
seconds until its succeeded count reached the batch and the task events per second that
makes, its CPU seconds over that time and task events per CPU-second, whether every count
is exact (sent, received, started and succeeded equal the tasks sent) and its memory
growth (peak resident memory, from the kernel, less its resident memory before).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import psutil
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.log_throughput import cpu_seconds, peak_rss, reset_peak_rss
from local_services.celery import CeleryWorker
from local_services.celery_exporter import CeleryExporterProcess
from local_services.exporter import ExporterProcess
from local_services.redis import RedisServer
from local_services.waiting import wait_until

TASK = "painel.succeed"
COUNTED = ("sent", "received", "started", "succeeded")
EVENTS_PER_TASK = len(COUNTED)
STALL_SECONDS = 60.0


def counts(port: int) -> dict[str, float]:
    """Every task counter summed over its labels, and the workers up."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as answer:
        text = answer.read().decode()
    found = dict.fromkeys([*COUNTED, "workers_up"], 0.0)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            for kind in COUNTED:
                if sample.name == f"celery_task_{kind}_total" and sample.labels["name"] == TASK:
                    found[kind] += sample.value
            if sample.name == "celery_worker_up":
                found["workers_up"] += sample.value
    return found


class Watch(threading.Thread):
    """Polls one exporter until its succeeded count reaches the batch, or it stalls."""

    def __init__(self, name: str, port: int, pid: int, tasks: int, poll: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.name, self.port, self.tasks, self.poll = name, port, tasks, poll
        self.process = psutil.Process(pid)
        self.started = 0.0
        self.cpu_before = cpu_seconds(self.process)
        self.rss_before = self.process.memory_info().rss
        reset_peak_rss(pid)
        self.done_after: float | None = None
        self.cpu_used = 0.0
        self.last: dict[str, float] = {}
        self.rss_peak = 0

    def run(self) -> None:
        progress_at, seen = time.monotonic(), None
        while time.monotonic() - progress_at < STALL_SECONDS:
            self.last = counts(self.port)
            if self.last["succeeded"] >= self.tasks:
                self.done_after = time.monotonic() - self.started
                break
            if self.last != seen:
                progress_at, seen = time.monotonic(), self.last
            time.sleep(self.poll)
        self.cpu_used = cpu_seconds(self.process) - self.cpu_before
        self.rss_peak = peak_rss(self.process.pid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--celery-exporter-python", required=True)
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="painel-bench-celery-"))
    with ExitStack() as stack:
        redis = RedisServer(work / "redis").start()
        stack.callback(redis.stop)
        # a paused subscriber's messages wait in Redis: no limit on what it holds for them
        redis.client().config_set("client-output-buffer-limit", "pubsub 0 0 0")
        workers = []
        for i in range(args.workers):
            worker = CeleryWorker(redis.url, work, name=f"bench{i}", pool="solo")
            workers.append(worker.start())
            stack.callback(worker.stop)
        painel = stack.enter_context(
            ExporterProcess(
                work,
                ["--collectors", "celery", "--broker-url", redis.url, "--max-scrape-interval", "0"],
            )
        )
        peer = stack.enter_context(
            CeleryExporterProcess(args.celery_exporter_python, work, redis.url)
        )
        ports = {"painel-exporter": painel.port, "celery-exporter": peer.port}
        pids = {"painel-exporter": painel.process.pid, "celery-exporter": peer.process.pid}
        # both listen once they count the workers' heartbeats (celery-exporter names a
        # worker by its host alone: all of them are one `localhost` there)
        expected = {"painel-exporter": args.workers, "celery-exporter": 1}
        for name, port in ports.items():
            wait_until(
                lambda port=port, name=name: counts(port)["workers_up"] >= expected[name],
                60,
                what=f"{name} to see the workers up",
            )
        app = workers[0].app

        print(f"live: {args.tasks:,} tasks sent to {args.workers} workers ...", flush=True)
        watches = [Watch(n, ports[n], pids[n], args.tasks) for n in ports]
        started = time.monotonic()
        for watch in watches:
            watch.started = started
            watch.start()
        send(app, args.tasks)
        print(f"sent in {time.monotonic() - started:.1f} s", flush=True)
        for watch in watches:
            watch.join()
        time.sleep(2.0)  # anything late: the counts are read once more for exactness
        live = {w.name: counts(w.port) for w in watches}

        print(f"backlog: both paused while {args.tasks:,} more run ...", flush=True)
        for pid in pids.values():
            os.kill(pid, signal.SIGSTOP)
        try:
            send(app, args.tasks)
            wait_until(lambda: redis.client().llen("celery") == 0, 600, 1.0, what="an empty queue")
            time.sleep(3.0)  # the last tasks' events are published
            # polled more often: the drain takes seconds
            backlog_watches = [Watch(n, ports[n], pids[n], 2 * args.tasks, 0.2) for n in ports]
        finally:
            started = time.monotonic()
            for pid in pids.values():
                os.kill(pid, signal.SIGCONT)
        for watch in backlog_watches:
            watch.started = started
            watch.start()
        for watch in backlog_watches:
            watch.join()
        time.sleep(2.0)
        backlog = {w.name: counts(w.port) for w in backlog_watches}
    print("\nlive (the workers set the pace):")
    report(watches, live, args.tasks, args.tasks)
    print("\nbacklog (both drain the same backlog from the same moment):")
    report(backlog_watches, backlog, args.tasks, 2 * args.tasks)


def send(app, tasks: int) -> None:
    with app.producer_or_acquire() as producer:
        for _ in range(tasks):
            app.send_task(TASK, producer=producer)


def report(
    watches: list[Watch], finals: dict[str, dict[str, float]], tasks: int, total: int
) -> None:
    rate = {}
    for watch in watches:
        final = finals[watch.name]
        exact = all(final[kind] == total for kind in COUNTED)
        rate[watch.name] = tasks * EVENTS_PER_TASK / watch.cpu_used if watch.cpu_used else 0.0
        if watch.done_after is not None:
            wall = (
                f"all counted after {watch.done_after:6.1f} s "
                f"({tasks * EVENTS_PER_TASK / watch.done_after:7,.0f} task events/s)"
            )
        else:
            wall = "never counted them all"
        print(
            f"{watch.name:16s} {wall}, {watch.cpu_used:5.1f} CPU-s "
            f"({rate[watch.name]:7,.0f} task events per CPU-second), exact={exact} "
            f"({', '.join(f'{k} {final[k]:,.0f}' for k in COUNTED)}), "
            f"memory growth {(watch.rss_peak - watch.rss_before) / 2**20:.1f} MiB"
        )
    painel, peer = (w for w in watches)
    cpu_ratio = rate[painel.name] / rate[peer.name]
    line = f"ratio painel/celery-exporter: {cpu_ratio:.1f}x per CPU-second"
    if painel.done_after and peer.done_after:
        line += f", {peer.done_after / painel.done_after:.1f}x in wall-clock rate"
    print(line + " (target >= 2x)")


if __name__ == "__main__":
    sys.exit(main())
