"""Celery: task and worker metrics from the events stream, queue lengths from the broker.

celery-exporter's names and labels, so its celery-mixin dashboards and alerts work on
painel. Three parts with one job each: events.py receives events on a background thread,
tracker.py turns them into bounded series, and queues.py reads queue lengths at scrape
time; this module wires them to the flags and publishes the collector's own health.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Iterable
from typing import Any

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from exporter.collectors.base import Collector, ConfigError
from exporter.collectors.celery.events import NO_EVENTS_ADVICE, EventReceiver
from exporter.collectors.celery.queues import (
    DEFAULT_PRIORITY_STEPS,
    READ_ERRORS,
    AmqpQueueLengths,
    RedisQueueLengths,
    is_amqp_url,
    is_redis_url,
)
from exporter.collectors.celery.tracker import DEFAULT_QUEUE, EventTracker
from exporter.config import seconds
from exporter.credentials import mask_url, scrub
from exporter.throttled_log import ThrottledWarning
from painel.capped import OTHER

NAME = "celery"
log = logging.getLogger("painel.exporter.celery")


def add_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--broker-url",
        metavar="URL",
        help="the Celery broker to receive events from and read queue lengths on, like "
        "redis://:PASSWORD@host:6379/0 or amqp://user:PASSWORD@host:5672// (queue lengths: "
        "Redis and AMQP; events: any broker Celery supports)",
    )
    parser.add_argument(
        "--celery-enable-events",
        action="store_true",
        help="ask the workers every 10 s to send events (celery control enable_events), "
        "for workers started without -E",
    )
    parser.add_argument(
        "--celery-queue",
        action="append",
        default=[],
        metavar="NAME",
        help="a queue whose length to publish (repeatable; default: celery); queues named "
        "by task-sent events are added as they appear",
    )
    parser.add_argument(
        "--celery-key-prefix",
        default="",
        metavar="PREFIX",
        help="the broker's global_keyprefix transport option, when the app sets one",
    )
    parser.add_argument(
        "--celery-priority-steps",
        default=",".join(str(s) for s in DEFAULT_PRIORITY_STEPS),
        metavar="LIST",
        help="the broker's priority_steps transport option (default %(default)s, kombu's)",
    )
    parser.add_argument(
        "--celery-max-task-names",
        type=int,
        default=1000,
        metavar="N",
        help="distinct task names published; later new names read <other> (default %(default)s)",
    )
    parser.add_argument(
        "--celery-forget-worker-after",
        type=seconds,
        default=600.0,
        metavar="SECONDS",
        help="a worker retired with worker-offline and silent this long, or a producer host "
        "that sent no task for as long, is dropped with all its series; a worker that "
        "vanished without worker-offline stays down until it is back (default %(default)s)",
    )
    parser.add_argument(
        "--celery-no-events-after",
        type=seconds,
        default=60.0,
        metavar="SECONDS",
        help="after this long without any event, say so in the log, on / and in "
        "painel_exporter_celery_no_events (default %(default)s)",
    )


def has_target(args: argparse.Namespace) -> bool:
    return bool(args.broker_url)


def build(args: argparse.Namespace) -> list[Collector]:
    url = args.broker_url
    scheme = url.partition("://")[0] if "://" in url else ""
    if scheme.partition("+")[0] not in TRANSPORT_ALIASES:
        raise ConfigError(
            f"--broker-url {mask_url(url)!r}: not a broker URL Celery knows; "
            "use redis://host:6379/0, rediss://... or amqp://user:password@host:5672//"
        )
    if args.celery_max_task_names < 1:
        raise ConfigError("--celery-max-task-names: use a positive number, like 1000")
    queues = [q.strip() for q in args.celery_queue if q.strip()] or [DEFAULT_QUEUE]
    return [
        CeleryCollector(
            url,
            queues=queues,
            key_prefix=args.celery_key_prefix,
            priority_steps=_priority_steps(args.celery_priority_steps),
            enable_events=args.celery_enable_events,
            max_task_names=args.celery_max_task_names,
            forget_after=args.celery_forget_worker_after,
            no_events_after=args.celery_no_events_after,
        )
    ]


def _priority_steps(text: str) -> list[int]:
    try:
        steps = sorted({int(s) for s in text.split(",") if s.strip()})
    except ValueError:
        steps = []
    if not steps or steps[0] != 0 or steps[-1] > 255:
        raise ConfigError(
            f"--celery-priority-steps {text!r}: use comma-separated integers from 0 to 255 "
            "that include 0, like 0,3,6,9"
        )
    return steps


def celery_app(broker_url: str, key_prefix: str) -> Celery:
    """A bare app on the broker: the exporter runs no tasks, it only listens and asks."""
    app = Celery("painel-exporter", broker=broker_url, set_as_current=False)
    options: dict[str, Any] = {"socket_connect_timeout": 2, "socket_timeout": 5}
    if key_prefix:
        options["global_keyprefix"] = key_prefix
    app.conf.update(
        broker_transport_options=options,
        broker_connection_timeout=2,
        broker_connection_retry=False,
        broker_connection_max_retries=1,
    )
    return app


class CeleryCollector(Collector):
    name = NAME

    def __init__(
        self,
        broker_url: str,
        queues: Iterable[str] = (DEFAULT_QUEUE,),
        key_prefix: str = "",
        priority_steps: Iterable[int] = DEFAULT_PRIORITY_STEPS,
        enable_events: bool = False,
        max_task_names: int = 1000,
        forget_after: float = 600.0,
        no_events_after: float = 60.0,
    ) -> None:
        self.broker_url = broker_url
        self.target = mask_url(broker_url)
        self.configured_queues = list(queues)
        self.tracker = EventTracker(max_task_names=max_task_names, forget_after=forget_after)
        self.app = celery_app(broker_url, key_prefix)
        self.receiver = EventReceiver(
            self.app,
            broker_url,
            self.tracker.handle,
            enable_events=enable_events,
            no_events_after=no_events_after,
        )
        self.queue_lengths: RedisQueueLengths | AmqpQueueLengths | None = None
        if is_redis_url(broker_url):
            self.queue_lengths = RedisQueueLengths(broker_url, list(priority_steps), key_prefix)
        elif is_amqp_url(broker_url):
            self.queue_lengths = AmqpQueueLengths(broker_url)
        self._warn_queues = ThrottledWarning(log)
        self._last_lengths: dict[str, int] = {}
        self._queue_error = ""
        self._warned_quiet: set[str] = set()

    def start(self) -> None:
        self.receiver.start()

    def stop(self) -> None:
        self.receiver.stop()
        if self.queue_lengths is not None:
            self.queue_lengths.close()
        self.app.close()

    def watched_queues(self) -> list[str]:
        discovered = [
            q for q in self.tracker.queue_names() if q not in self.configured_queues and q != OTHER
        ]
        return [*self.configured_queues, *sorted(discovered)]

    def collect(self) -> Iterable[Metric]:
        yield from self.tracker.collect()
        yield from self._queue_families()
        yield from self._own_families()

    def _queue_families(self) -> Iterable[Metric]:
        if self.queue_lengths is None:
            return
        broker_up = GaugeMetricFamily(
            "painel_exporter_celery_broker_up",
            "1 when the last read of the queue lengths reached the broker, else 0.",
        )
        try:
            lengths = self.queue_lengths.lengths(self.watched_queues())
        except READ_ERRORS as exc:
            self._queue_error = scrub(f"{type(exc).__name__}: {exc}", self.broker_url)
            self._warn_queues("celery queue lengths from %s: %s", self.target, self._queue_error)
            broker_up.add_metric([], 0.0)
            yield broker_up
            return
        self._queue_error = ""
        self._last_lengths = lengths
        broker_up.add_metric([], 1.0)
        yield broker_up
        length = GaugeMetricFamily(
            "celery_queue_length",
            "Messages waiting in the broker queue, all priorities together.",
            labels=["queue_name"],
        )
        for queue, count in lengths.items():
            length.add_metric([queue], float(count))
        yield length

    def _own_families(self) -> Iterable[Metric]:
        yield CounterMetricFamily(
            "painel_exporter_celery_events_received",
            "Celery events received (heartbeats included).",
            value=self.tracker.events_received,
        )
        yield CounterMetricFamily(
            "painel_exporter_celery_events_skipped",
            "Celery events skipped as malformed (see the exporter's log).",
            value=self.tracker.events_skipped,
        )
        yield GaugeMetricFamily(
            "painel_exporter_celery_no_events",
            "1 when no Celery event arrived for --celery-no-events-after seconds, else 0.",
            value=1.0 if self.receiver.silent() else 0.0,
        )
        quiet = self._workers_without_task_events()
        yield GaugeMetricFamily(
            "painel_exporter_celery_workers_without_task_events",
            "Live workers that processed tasks but sent no task event (started without -E).",
            value=float(len(quiet)),
        )

    def _workers_without_task_events(self) -> list[str]:
        quiet = self.tracker.workers_without_task_events()
        for hostname in set(quiet) - self._warned_quiet:
            log.warning(
                "celery worker %s processes tasks but sends no task events: start it with -E "
                "(--task-events) or run the exporter with --celery-enable-events",
                hostname,
            )
        self._warned_quiet = set(quiet)
        return quiet

    def status(self) -> dict[str, Any]:
        if self.receiver.connected:
            events = "receiving"
        else:
            events = f"disconnected ({self.receiver.last_error or 'connecting'})"
        if self.receiver.silent():
            since = self.receiver.last_event_at or self.receiver.started_at
            events += f"; NO EVENTS for {time.time() - since:.0f} s: {NO_EVENTS_ADVICE}"
        quiet = self.tracker.workers_without_task_events()
        if quiet:
            events += (
                f"; NO TASK EVENTS from {', '.join(quiet)}: start them with -E "
                "or run with --celery-enable-events"
            )
        if self.queue_lengths is None:
            queues = "not read: queue lengths need a Redis or AMQP broker"
        elif self._queue_error:
            queues = f"failed: {self._queue_error}"
        else:
            queues = ", ".join(f"{q}={n}" for q, n in self._last_lengths.items()) or "none yet"
        workers = self.tracker.workers()
        return {
            "targets": [{"target": self.target, "result": events}],
            "events received": self.tracker.events_received,
            "workers": ", ".join(f"{h} {state}" for h, state in workers.items()) or "none seen",
            "queues": queues,
        }
