"""The events stream read straight from Redis pub/sub: kombu's consumer, without its cost.

On Redis, celery events are PUBLISHed to `<global_keyprefix>/<db>.celeryev/<routing key>`,
each a kombu message (JSON) whose body is the event, or a list of events (a worker's
buffered task events), base64-encoded JSON. kombu's consumer turns every one into a
Message object through its serializer registry and three layers of callbacks: most of
the CPU the exporter spent per event. This reads the same messages with redis-py, on the
client kombu configured (URL, TLS, socket, password, key prefix), and decodes JSON
directly; celery's own Receiver still does what it does to each event (clock, timestamp
and receive time), so the tracker sees exactly what kombu's path gave it.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

JSON = "application/json"
# After a burst is read, wait this long before the next read, so that the next one comes
# in a few large reads rather than one wake-up (and system calls) per event. Counters are
# read every 15 s or so: 20 ms later costs nothing, and Redis holds the messages meanwhile.
COALESCE_SECONDS = 0.02


def is_redis(connection) -> bool:
    """redis://, rediss://, redis+socket:// and sentinel:// all use kombu's Redis channel."""
    return getattr(connection.transport, "driver_type", "") == "redis"


def subscribe(connection, exchange: str):
    """A redis-py PubSub subscribed to every routing key of the events exchange."""
    channel = connection.default_channel
    client = channel.client  # creating it formats the `/<db>.` of the fanout prefix
    pattern = channel._get_publish_topic(exchange, "*")  # kombu's own topic layout
    pubsub = client.pubsub(ignore_subscribe_messages=True)  # adds the global key prefix
    pubsub.psubscribe(pattern)
    return pubsub


def events_of(data: bytes | str) -> Iterator[Any]:
    """The events in one published message; ValueError when it is not a JSON event message."""
    try:
        message = json.loads(data)
        body = message["body"]
        if message.get("content-type", JSON) != JSON:
            raise ValueError(f"content type {message.get('content-type')!r}, not JSON")
        if (message.get("properties") or {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        events = json.loads(body)
    except (KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{type(exc).__name__}: {exc}") from None
    yield from events if isinstance(events, list) else (events,)


def consume(
    pubsub,
    handle: Callable[[dict[str, Any]], None],
    on_bad_message: Callable[[str], None],
    from_message: Callable[[dict[str, Any]], tuple[str, dict[str, Any]]],
    on_iteration: Callable[[], None],
    should_stop: Callable[[], bool],
    poll_seconds: float,
) -> None:
    """Hand every event to `handle` until `should_stop()`; a broker error propagates."""
    get_message = pubsub.get_message
    while not should_stop():
        message = get_message(timeout=poll_seconds)
        burst = message is not None
        while message is not None:  # everything already received, without waiting
            if message["type"] == "pmessage":
                try:
                    for event in events_of(message["data"]):
                        handle(from_message(event)[1])
                except (ValueError, KeyError, TypeError) as exc:
                    on_bad_message(str(exc))
            message = get_message(timeout=0.0)
        on_iteration()
        if burst:
            time.sleep(COALESCE_SECONDS)
