"""The Celery app CeleryWorker runs: tasks that succeed, fail, retry and sleep.

The worker imports this module by name (`celery -A local_services.celery_app worker`) and
reads its broker from PAINEL_TEST_BROKER_URL; tests publish with `make_app(url)` so that
each test talks to its own redis-server.
"""

from __future__ import annotations

import os
import time

from celery import Celery
from celery.exceptions import Reject

BROKER_ENV = "PAINEL_TEST_BROKER_URL"
KEY_PREFIX_ENV = "PAINEL_TEST_KEY_PREFIX"


def make_app(broker_url: str, key_prefix: str = "") -> Celery:
    app = Celery("painel_test", broker=broker_url, set_as_current=False)
    app.conf.update(
        # task-sent events carry the queue name, which worker events do not.
        task_send_sent_event=True,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        broker_transport_options={"global_keyprefix": key_prefix} if key_prefix else {},
    )
    return app


app = make_app(
    os.environ.get(BROKER_ENV, "redis://127.0.0.1:1/0"), os.environ.get(KEY_PREFIX_ENV, "")
)


@app.task(name="painel.succeed")
def succeed(value=1):
    return value


@app.task(name="painel.fail")
def fail():
    raise ValueError("boom")


@app.task(name="painel.flaky", bind=True, max_retries=5)
def flaky(self, retries=2):
    """Retry `retries` times, then succeed: one received/started per attempt."""
    if self.request.retries < retries:
        raise self.retry(countdown=0)
    return self.request.retries


@app.task(name="painel.reject", acks_late=True)  # acked early, it could not be rejected
def reject():
    """Refuse the message for good: the worker rejects it (and reports a failure)."""
    raise Reject("not for us", requeue=False)


@app.task(name="painel.sleep")
def sleep(seconds=1.0):
    time.sleep(seconds)
    return seconds
