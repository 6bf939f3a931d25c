"""Celery tasks that succeed, fail and retry, so every Celery panel has something to show."""

from __future__ import annotations

import time

from .celery import app
from .errors import CardDeclinedError, InventorySyncError

# A capture is declined this many times before it goes through.
CAPTURE_DECLINES = 2


@app.task
def send_invoice(order_id: int) -> str:
    time.sleep(0.05)
    return f"invoice for order {order_id} sent"


@app.task
def sync_inventory(warehouse: str) -> None:
    time.sleep(0.02)
    raise InventorySyncError(f"warehouse {warehouse} answered with garbage")


@app.task(bind=True, max_retries=CAPTURE_DECLINES)
def capture_payment(self, payment_id: int) -> str:
    if self.request.retries < CAPTURE_DECLINES:
        raise self.retry(exc=CardDeclinedError(f"payment {payment_id} declined"), countdown=0.2)
    return f"payment {payment_id} captured"
