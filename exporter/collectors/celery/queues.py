"""How many messages wait in each Celery queue, read from the broker at scrape time.

Redis, computed as Flower does:

Kombu's Redis transport keeps a queue as one list per priority step: `queue` for the
lowest step and `queue<sep><step>` for the others (sep "\\x06\\x16", steps 0 3 6 9 by
default), every key behind the transport's `global_keyprefix`. celery-exporter reads only
the first list (LLEN queue), so messages sent with a priority, or behind a key prefix,
went uncounted; the length here is the sum over all steps, read in one pipelined round
trip with short timeouts so that a scrape never waits long on a broker that hangs.

AMQP (RabbitMQ): a passive queue.declare per queue, whose answer counts the messages
ready in the queue, every priority included.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence

import redis
from amqp.exceptions import AMQPError, NotFound
from kombu import Connection
from kombu.exceptions import OperationalError
from kombu.transport.redis import PRIORITY_STEPS, Channel
from redis.backoff import NoBackoff
from redis.retry import Retry

DEFAULT_PRIORITY_STEPS = tuple(PRIORITY_STEPS)
DEFAULT_SEP = Channel.sep
TIMEOUT_SECONDS = 0.3
REDIS_SCHEMES = ("redis", "rediss", "redis+socket", "unix")
AMQP_SCHEMES = ("amqp", "amqps", "pyamqp")
# what reading the lengths raises when the broker is down, hangs or refuses us
READ_ERRORS = (redis.RedisError, OSError, AMQPError, OperationalError)


def is_redis_url(url: str) -> bool:
    return url.partition("://")[0] in REDIS_SCHEMES


def is_amqp_url(url: str) -> bool:
    return url.partition("://")[0] in AMQP_SCHEMES


def queue_keys(
    queue: str,
    priority_steps: Sequence[int] = DEFAULT_PRIORITY_STEPS,
    key_prefix: str = "",
    sep: str = DEFAULT_SEP,
) -> list[str]:
    """The Redis lists that hold `queue`, one per priority step (as kombu names them)."""
    return [key_prefix + (f"{queue}{sep}{step}" if step else queue) for step in priority_steps]


class RedisQueueLengths:
    def __init__(
        self,
        broker_url: str,
        priority_steps: Sequence[int] = DEFAULT_PRIORITY_STEPS,
        key_prefix: str = "",
    ) -> None:
        if broker_url.startswith("redis+socket://"):
            broker_url = "unix://" + broker_url.removeprefix("redis+socket://")
        self.priority_steps = tuple(priority_steps)
        self.key_prefix = key_prefix
        self._client = redis.Redis.from_url(
            broker_url,
            socket_timeout=TIMEOUT_SECONDS,
            socket_connect_timeout=TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 0),  # a retry would double the wait on a dead broker
        )

    def lengths(self, queues: Iterable[str]) -> dict[str, int]:
        """queue -> messages waiting; raises redis.RedisError when the broker does not answer."""
        queues = list(queues)
        pipeline = self._client.pipeline(transaction=False)
        for queue in queues:
            for key in queue_keys(queue, self.priority_steps, self.key_prefix):
                pipeline.llen(key)
        counts = iter(pipeline.execute())
        return {queue: sum(next(counts) for _ in self.priority_steps) for queue in queues}

    def close(self) -> None:
        self._client.close()


class AmqpQueueLengths:
    """Queue lengths on an AMQP broker; the connection is kept and made again after errors."""

    def __init__(self, broker_url: str) -> None:
        self.broker_url = broker_url
        self._connection: Connection | None = None

    def _connect(self) -> Connection:
        if self._connection is None:
            self._connection = Connection(
                self.broker_url,
                connect_timeout=TIMEOUT_SECONDS,
                transport_options={
                    "read_timeout": TIMEOUT_SECONDS,
                    "write_timeout": TIMEOUT_SECONDS,
                },
            )
        return self._connection

    def lengths(self, queues: Iterable[str]) -> dict[str, int]:
        """queue -> messages ready; a queue the broker does not have reads 0.

        Raises one of READ_ERRORS when the broker does not answer.
        """
        connection = self._connect()
        try:
            counts = {}
            channel = connection.channel()
            for queue in queues:
                try:
                    counts[queue] = channel.queue_declare(queue, passive=True).message_count
                except NotFound:  # the broker closed the channel: the next queue needs one
                    counts[queue] = 0
                    channel = connection.channel()
            channel.close()
            return counts
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):  # closing a dead connection may raise
                self._connection.close()
            self._connection = None
