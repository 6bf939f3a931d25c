"""Celery events turned into celery-exporter's metrics, with every label bounded.

The receiver thread (events.py) hands each event to `EventTracker.handle`;
the collector asks `EventTracker.collect` for the families at scrape time. celery's own
`events.State` pairs a task's later events (started, succeeded...) with the name and queue
that only its first events carry, and keeps worker heartbeats, in bounded LRU caches.

Worker liveness is decided at scrape time from the heartbeats, as celery.events.state does
(a worker is alive until 2 x its heartbeat interval after its last heartbeat), so a worker
killed with SIGKILL, which sends no worker-offline event, drops to 0 by itself and stays
there until it is back: a crash stays visible. A worker that sent worker-offline (a deploy,
a scale-down) is retired: it leaves `celery_worker_up` at once, and once silent for
`forget_after` seconds it is forgotten with all its series (celery-exporter's users saw
memory and series grow without end with rotating pod names), and so is a producer host that
sent no task for as long (its `celery_task_sent_total` series: web pods rotate too). At most
MAX_VANISHED_WORKERS vanished workers are kept, the longest silent forgotten first.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from celery.events.state import State
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

from painel.capped import CappedValues

log = logging.getLogger("painel.exporter.celery")

# celery's task_default_queue: where a task goes when no task-sent event said otherwise.
DEFAULT_QUEUE = "celery"
TASK_LABELS = ("name", "hostname", "queue_name")
# event type -> metric name, in celery-exporter's order
TASK_EVENTS = {
    "task-sent": "celery_task_sent",
    "task-received": "celery_task_received",
    "task-started": "celery_task_started",
    "task-succeeded": "celery_task_succeeded",
    "task-failed": "celery_task_failed",
    "task-retried": "celery_task_retried",
    "task-revoked": "celery_task_revoked",
    "task-rejected": "celery_task_rejected",
}
_HELP = {
    "task-sent": "Tasks published (task-sent events; needs task_send_sent_event).",
    "task-received": "Tasks a worker received.",
    "task-started": "Tasks a worker started to run.",
    "task-succeeded": "Tasks that succeeded.",
    "task-failed": "Tasks that failed, by exception type.",
    "task-retried": "Task runs that ended in a retry.",
    "task-revoked": "Tasks revoked.",
    "task-rejected": "Tasks a worker rejected (requeued or dead-lettered).",
}
# "ValueError('boom')" -> ValueError; "pkg.errors.Timeout(...)" -> pkg.errors.Timeout
_EXCEPTION_NAME = re.compile(r"([A-Za-z_][\w.]*)")
# a producer's node name is gen<pid>@host: one per process, so only the host is kept
_PRODUCER = re.compile(r"gen\d+@(.+)")
MAX_LABEL_LENGTH = 128
MAX_VANISHED_WORKERS = 100
_BULKY_FIELDS = frozenset({"args", "kwargs", "result", "traceback"})


class EventTracker:
    """Counts task events per (name, hostname, queue_name) and knows which workers are up."""

    def __init__(
        self,
        max_task_names: int = 1000,
        max_exceptions: int = 100,
        max_queues: int = 100,
        forget_after: float = 600.0,
        runtime_buckets: Iterable[float] = Histogram.DEFAULT_BUCKETS,
        max_tasks_in_memory: int = 10000,
        clock=time.time,
    ) -> None:
        self.forget_after = forget_after
        self._clock = clock
        self._lock = threading.Lock()
        # workers only: tasks are kept in _tasks (see _task_event)
        self._state = State(max_tasks_in_memory=1, max_workers_in_memory=5000)
        self._tasks: dict[str, list] = {}  # uuid -> [name, queue or None], oldest first
        self._max_tasks = max_tasks_in_memory
        # (event, labels) -> the counter's child: prometheus_client's labels() costs more
        # than the increment; dropped with the series when a host is forgotten
        self._children: dict[tuple, Any] = {}
        self._task_names = CappedValues(max_task_names, MAX_LABEL_LENGTH)
        self._exceptions = CappedValues(max_exceptions, MAX_LABEL_LENGTH)
        self.queues = CappedValues(max_queues, MAX_LABEL_LENGTH)
        # (capped) name -> queue of its latest task-sent, for tasks whose own went unseen
        self._queue_of_name: dict[str, str] = {}
        # hostname -> the label sets it has, so that a forgotten worker takes them along
        self._series: dict[str, set[tuple[str, str]]] = {}
        self._failed_series: dict[str, set[tuple[str, str, str]]] = {}
        self._last_seen: dict[str, float] = {}  # hostname -> local time of its last event
        self._retired: set[str] = set()  # workers whose last word was worker-offline
        # producer host -> (name, queue) of its task-sent series, and when it last sent
        self._sent_series: dict[str, set[tuple[str, str]]] = {}
        self._last_sent: dict[str, float] = {}
        # A worker without -E still sends heartbeats, which count the tasks it processed:
        # more processed than at its first heartbeat, and no task event from it, means
        # its task events are off.
        self._processed_at_first: dict[str, int] = {}
        self._workers_with_task_events: set[str] = set()
        self.events_received = 0
        self.events_skipped = 0
        self.last_event_at: float | None = None

        self._registry = CollectorRegistry(auto_describe=False)
        self._counters = {
            event: Counter(
                metric,
                _HELP[event],
                [*TASK_LABELS, "exception"] if event == "task-failed" else list(TASK_LABELS),
                registry=self._registry,
            )
            for event, metric in TASK_EVENTS.items()
        }
        self._runtime = Histogram(
            "celery_task_runtime",
            "How long successful tasks ran, in seconds.",
            list(TASK_LABELS),
            buckets=tuple(runtime_buckets),
            registry=self._registry,
        )

    def handle(self, event: Mapping[str, Any]) -> None:
        """One event from the receiver; a malformed one is counted, logged and skipped."""
        with self._lock:
            self.events_received += 1
            self.last_event_at = self._clock()
            try:
                kind = event["type"]
                if kind in TASK_EVENTS:
                    self._task_event(kind, event)
                elif kind.startswith("worker-"):
                    # only names and times are kept: args, results and tracebacks would
                    # cost memory; the hostname is cut here, so that celery's state and
                    # our series know a worker by the same name
                    event = {k: v for k, v in event.items() if k not in _BULKY_FIELDS}
                    event["hostname"] = str(event["hostname"])[:MAX_LABEL_LENGTH]
                    self._worker_event(event)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                self.events_skipped += 1
                log.warning("skipped a malformed celery event: %s: %s", type(exc).__name__, exc)

    def _worker_event(self, event: dict[str, Any]) -> None:
        hostname = event["hostname"]
        self._state.event(event)
        self._last_seen[hostname] = self._clock()
        if event["type"] == "worker-offline":
            self._retired.add(hostname)
        else:
            self._retired.discard(hostname)
        if isinstance(event.get("processed"), int):
            self._processed_at_first.setdefault(hostname, event["processed"])

    def _task_event(self, kind: str, event: Mapping[str, Any]) -> None:
        """The hot path: every task event of every worker comes through here.

        celery's State keeps a Task object per task, with every field of every event and
        a heap of events ordered by clock: a third of the exporter's CPU per event, for
        the two things counted here, the task's name and queue. So tasks are kept as
        [name, queue] in a dict of the latest `max_tasks_in_memory` (oldest first out),
        and each label set's counter child is looked up once, not per event.
        """
        uuid = event["uuid"]
        node = str(event["hostname"])[:MAX_LABEL_LENGTH]
        task = self._tasks.get(uuid)
        if task is None:
            name = event.get("name")
            if not name:
                raise ValueError(f"{kind} for task {uuid!r} whose name was never seen")
            task = self._tasks[uuid] = [self._task_names(str(name)), None]
            if len(self._tasks) > self._max_tasks:
                del self._tasks[next(iter(self._tasks))]
        name = task[0]
        if kind == "task-sent" and event.get("queue"):
            task[1] = self._queue_of_name[name] = self.queues(str(event["queue"]))
        queue = task[1] or self._queue_of_name.get(name) or self.queues(DEFAULT_QUEUE)
        hostname = _hostname_label(node)
        labels = (name, hostname, queue)
        now = self._clock()
        if kind == "task-sent":
            self._last_sent[hostname] = now
            self._sent_series.setdefault(hostname, set()).add((name, queue))
        else:
            # a worker running tasks is alive, as celery's State counts task events as
            # heartbeats; its name is the worker's as the heartbeats give it
            worker = self._state.workers.get(node) or self._state.get_or_create_worker(node)[0]
            received = event.get("local_received")
            if received:
                worker.event(None, received, event["timestamp"])
            self._last_seen[hostname] = now
            self._retired.discard(hostname)
            self._workers_with_task_events.add(hostname)
            self._start_at_zero(labels)
        if kind == "task-failed":
            exception = self._exceptions(_exception_name(event.get("exception")))
            self._failed_series.setdefault(hostname, set()).add((name, queue, exception))
            self._counters[kind].labels(*labels, exception).inc()
        else:
            key = (kind, labels)
            child = self._children.get(key)
            if child is None:
                child = self._children[key] = self._counters[kind].labels(*labels)
            child.inc()
        if kind == "task-succeeded" and isinstance(event.get("runtime"), (int, float)):
            self._runtime.labels(*labels).observe(max(0.0, float(event["runtime"])))

    def _start_at_zero(self, labels: tuple[str, str, str]) -> None:
        """A worker's label set seen for the first time starts its counters at 0.

        So a task that always fails still has a succeeded series, and ratios such as
        celery-mixin's failure rate are defined from its first failure on. task-sent is
        left out, as celery-exporter does: producers (web processes) send it, under
        their own hostname, so a zero there would double the series for nothing.
        """
        name, hostname, queue = labels
        series = self._series.setdefault(hostname, set())
        if (name, queue) in series:
            return
        series.add((name, queue))
        for kind, counter in self._counters.items():
            if kind == "task-sent":
                continue
            if kind == "task-failed":
                counter.labels(*labels, "")
                self._failed_series.setdefault(hostname, set()).add((name, queue, ""))
            else:
                counter.labels(*labels)
        self._runtime.labels(*labels)

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            self._forget_silent_hosts()
            up = GaugeMetricFamily(
                "celery_worker_up",
                "1 while the worker's heartbeats arrive (expiry: 2 x heartbeat interval).",
                labels=["hostname"],
            )
            active = GaugeMetricFamily(
                "celery_worker_tasks_active",
                "Tasks the worker was running at its last heartbeat (0 when down).",
                labels=["hostname"],
            )
            for hostname, worker in self._state.workers.items():
                if hostname not in self._last_seen or hostname in self._retired:
                    continue
                alive = bool(worker.alive)
                up.add_metric([hostname], 1.0 if alive else 0.0)
                active.add_metric([hostname], float(worker.active or 0) if alive else 0.0)
            families = list(self._registry.collect())
        for family in families:
            # prometheus_client adds a `_created` sample per series: as many series again
            # for a value no dashboard or alert of celery-exporter's reads
            family.samples = [s for s in family.samples if not s.name.endswith("_created")]
        return [*families, up, active]

    def _forget_silent_hosts(self) -> None:
        now = self._clock()
        vanished = [h for h in self._last_seen if h not in self._retired and not self._alive(h)]
        beyond_cap = sorted(vanished, key=self._last_seen.get)[:-MAX_VANISHED_WORKERS]
        for hostname in beyond_cap:
            log.warning("forgetting vanished celery worker %s: over %d", hostname, len(vanished))
            self._forget_worker(hostname)
        for hostname in [h for h in self._retired if now - self._last_seen[h] >= self.forget_after]:
            log.info("forgetting retired celery worker %s", hostname)
            self._forget_worker(hostname)
        for hostname, sent in list(self._last_sent.items()):
            if now - sent < self.forget_after:
                continue
            log.info("forgetting celery producer %s: sent no task for %.0f s", hostname, now - sent)
            del self._last_sent[hostname]
            for name, queue in self._sent_series.pop(hostname, ()):
                self._counters["task-sent"].remove(name, hostname, queue)
            self._drop_children(hostname)

    def _alive(self, hostname: str) -> bool:
        worker = self._state.workers.get(hostname)
        return worker is not None and bool(worker.alive)

    def _forget_worker(self, hostname: str) -> None:
        """Drop a worker with every series that names it."""
        del self._last_seen[hostname]
        self._retired.discard(hostname)
        self._processed_at_first.pop(hostname, None)
        self._workers_with_task_events.discard(hostname)
        self._state.workers.pop(hostname, None)
        for name, queue in self._series.pop(hostname, ()):
            for kind, counter in self._counters.items():
                if kind not in ("task-failed", "task-sent"):
                    counter.remove(name, hostname, queue)
            self._runtime.remove(name, hostname, queue)
        for name, queue, exception in self._failed_series.pop(hostname, ()):
            self._counters["task-failed"].remove(name, hostname, queue, exception)
        self._drop_children(hostname)

    def _drop_children(self, hostname: str) -> None:
        """Forget the cached children of removed series: an increment must make a new one."""
        self._children = {k: v for k, v in self._children.items() if k[1][1] != hostname}

    def queue_names(self) -> list[str]:
        """Queues named by the events so far (task-sent carries the queue)."""
        with self._lock:
            return list(self.queues.known)

    def workers_without_task_events(self) -> list[str]:
        """Live workers that processed tasks since we first heard them, with no task event."""
        with self._lock:
            return sorted(
                hostname
                for hostname, worker in self._state.workers.items()
                if hostname in self._last_seen
                and hostname not in self._workers_with_task_events
                and worker.alive
                and (getattr(worker, "processed", 0) or 0)
                > self._processed_at_first.get(hostname, 0)
            )

    def workers(self) -> dict[str, str]:
        """hostname -> up, DOWN or retired, for the landing page."""
        with self._lock:
            return {
                h: "retired" if h in self._retired else "up" if w.alive else "DOWN"
                for h, w in self._state.workers.items()
                if h in self._last_seen
            }


def _hostname_label(nodename: str) -> str:
    match = _PRODUCER.fullmatch(nodename)
    return (match.group(1) if match else nodename)[:MAX_LABEL_LENGTH]


def _exception_name(text: object) -> str:
    match = _EXCEPTION_NAME.match(str(text or "").strip())
    return match.group(1) if match else "<unknown>"
