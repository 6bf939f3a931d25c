"""The shop's endpoints, one per kind of behaviour a dashboard must show.

fast and cached, slow, randomly failing, raising a custom exception, not found, async,
and three that hand work to Celery (a task that succeeds, one that fails, one that retries).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

from django.conf import settings
from django.core.cache import cache
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from . import tasks
from .errors import PaymentGatewayError
from .tenants import tenant_from_request

logger = logging.getLogger("demo.views")

ORDERS_PER_TENANT = 100


def _tenant(request) -> str:
    return tenant_from_request(request) or "public"


@require_GET
def index(request):
    return JsonResponse({"shop": "painel demo", "tenant": _tenant(request)})


@require_GET
def order_list(request):
    """Fast: the list comes from the Redis cache after the first request of a tenant."""
    key = f"orders:{_tenant(request)}"
    orders = cache.get(key)
    if orders is None:
        orders = [{"id": pk, "total": pk * 3} for pk in range(1, 21)]
        cache.set(key, orders)
    return JsonResponse({"orders": orders})


@require_GET
def order_detail(request, pk: int):
    if pk > ORDERS_PER_TENANT:
        raise Http404(f"no order {pk}")
    return JsonResponse({"id": pk, "total": pk * 3})


@require_GET
def report(request, name: str):
    """Slow: longer than the slow-request threshold, every time."""
    time.sleep(settings.REPORT_SECONDS)
    return JsonResponse({"report": name, "rows": 42})


@csrf_exempt
def checkout(request):
    """Fails at random; ?fail=1 or ?fail=0 decides it for a reproducible load."""
    forced = request.GET.get("fail")
    failed = (
        forced == "1" if forced in ("0", "1") else random.random() < settings.CHECKOUT_FAILURE_RATE
    )
    if failed:
        logger.error("checkout failed for tenant %s: payment provider timed out", _tenant(request))
        return JsonResponse({"error": "checkout failed"}, status=500)
    return JsonResponse({"status": "paid"})


@require_GET
def refund(request, pk: int):
    """Always raises a non-builtin exception: Django answers 500 and logs the traceback."""
    raise PaymentGatewayError(f"refund {pk}: gateway unreachable")


@require_GET
async def inventory(request):
    """An async view, served by the same middleware under gunicorn's sync workers."""
    await asyncio.sleep(0.02)
    return JsonResponse({"items": 128})


@csrf_exempt
@require_POST
def send_invoice(request, pk: int):
    tasks.send_invoice.delay(pk)
    return JsonResponse({"queued": "send_invoice"}, status=202)


@csrf_exempt
@require_POST
def sync_inventory(request):
    tasks.sync_inventory.delay(_tenant(request))
    return JsonResponse({"queued": "sync_inventory"}, status=202)


@csrf_exempt
@require_POST
def capture_payment(request, pk: int):
    tasks.capture_payment.delay(pk)
    return JsonResponse({"queued": "capture_payment"}, status=202)
