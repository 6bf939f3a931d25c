"""The Celery events receiver: a background thread that reconnects by itself.

celery-exporter receives events on its main thread and dies with the broker connection;
Flower's thread retries with a growing pause. This one does as Flower does (pause doubling
up to 30 s, reset once connected) and stops within a second when asked. It can also ask
the workers to turn events on (`celery control enable_events`), on connect and every
ENABLE_EVENTS_EVERY seconds, for workers started without -E.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from celery import Celery

from exporter.collectors.celery import redis_events
from exporter.credentials import mask_url, scrub
from exporter.throttled_log import ThrottledWarning

log = logging.getLogger("painel.exporter.celery")

ENABLE_EVENTS_EVERY = 10.0
MAX_BACKOFF = 30.0
# how often the consumer loop wakes up when no event comes: the stop and the
# enable_events timer are checked this often
POLL_SECONDS = 1.0
# Workers send heartbeats even without -E, so silence means no worker on this broker (or
# key prefix), or workers started with --without-heartbeat and no -E.
NO_EVENTS_ADVICE = (
    "are workers running on this broker and --celery-key-prefix? Workers that send no "
    "events: start them with -E or run the exporter with --celery-enable-events"
)


class EventReceiver:
    """Feeds every event to `on_event` from a daemon thread started by `start()`."""

    def __init__(
        self,
        app: Celery,
        broker_url: str,
        on_event: Callable[[Mapping[str, Any]], None],
        enable_events: bool = False,
        no_events_after: float = 60.0,
    ) -> None:
        self.app = app
        self.broker_url = broker_url
        self.target = mask_url(broker_url)
        self.on_event = on_event
        self.enable_events = enable_events
        self.no_events_after = no_events_after
        self.connected = False
        self.last_error = ""
        self.started_at = time.time()
        self.last_event_at: float | None = None
        self._stop = threading.Event()
        self._receiver = None
        self._thread = threading.Thread(target=self._run, name="celery-events", daemon=True)
        self._next_enable = 0.0
        self._warned_silence = False
        self._bad_message = ThrottledWarning(log)

    def start(self) -> None:
        self.started_at = time.time()
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._receiver is not None:
            self._receiver.should_stop = True
        if self._thread.is_alive():
            self._thread.join(timeout)

    def silent(self) -> bool:
        """True when no event arrived for `no_events_after` seconds (since start or the last)."""
        since = self.last_event_at or self.started_at
        return time.time() - since >= self.no_events_after

    def _run(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            try:
                self._capture()
                backoff = 1.0
            except Exception as exc:  # any broker or transport error: retry, never die
                self.connected = False
                self.last_error = scrub(f"{type(exc).__name__}: {exc}", self.broker_url)
                log.warning(
                    "celery events from %s: %s; reconnecting in %.0f s",
                    self.target,
                    self.last_error,
                    backoff,
                )
                self._warn_if_silent()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
        self.connected = False

    def _capture(self) -> None:
        with self.app.connection_for_read() as connection:
            # fail fast here; the loop in _run owns the retrying and its pauses
            connection.ensure_connection(max_retries=1)
            receiver = self.app.events.Receiver(connection, handlers={"*": self._handle})
            receiver.connect_max_retries = 1
            receiver.on_iteration = self._tick
            self._receiver = receiver
            if self._stop.is_set():
                return
            if redis_events.is_redis(connection):
                self._capture_redis(connection, receiver)
                return
            # wakeup: every worker answers with a heartbeat at once, so worker_up is
            # right seconds after a restart of the exporter
            for _ in receiver.consume(
                limit=None, timeout=None, safety_interval=POLL_SECONDS, wakeup=True
            ):
                pass
            self._receiver = None

    def _capture_redis(self, connection, receiver) -> None:
        """Redis: the same messages read with redis-py (redis_events.py says why)."""
        pubsub = redis_events.subscribe(connection, receiver.exchange.name)
        try:
            receiver.wakeup_workers(channel=connection.default_channel)
            self._tick()
            redis_events.consume(
                pubsub,
                self._handle,
                self._skip_message,
                receiver.event_from_message,
                self._tick,
                self._stop.is_set,
                POLL_SECONDS,
            )
        finally:
            pubsub.close()
            self._receiver = None

    def _skip_message(self, error: str) -> None:
        """A message that is no event: the tracker counts it as a skipped event."""
        self._bad_message("skipped a celery events message that does not decode: %s", error)
        self.on_event({})  # no type: counted in painel_exporter_celery_events_skipped_total

    def _on_connected(self) -> None:
        self.connected = True
        self.last_error = ""
        log.info("receiving celery events from %s", self.target)

    def _handle(self, event: Mapping[str, Any]) -> None:
        if not self.connected:
            self._on_connected()
        self.last_event_at = time.time()
        if self._warned_silence:
            log.info("celery events arrive again from %s", self.target)
            self._warned_silence = False
        self.on_event(event)

    def _tick(self) -> None:
        """Runs on every pass of the consumer loop, at least once a second."""
        if not self.connected:
            self._on_connected()
        if self.enable_events and time.monotonic() >= self._next_enable:
            self._next_enable = time.monotonic() + ENABLE_EVENTS_EVERY
            try:
                self.app.control.enable_events()
            except Exception as exc:
                log.warning(
                    "could not ask the workers to enable events: %s",
                    scrub(f"{type(exc).__name__}: {exc}", self.broker_url),
                )
        self._warn_if_silent()

    def _warn_if_silent(self) -> None:
        """Once per silence, connected or not: the log says so, as / and the gauge do."""
        if not self._warned_silence and self.silent():
            self._warned_silence = True
            log.warning(
                "no celery events from %s for %.0f s: %s",
                self.target,
                self.no_events_after,
                NO_EVENTS_ADVICE,
            )
