"""Slow-request records: one JSON object per record on the logger `painel.slow_requests`.

The message itself is the JSON, so a plain `%(message)s` file handler writes one JSON line per
slow request; the exporter's slow_requests collector follows that file.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timezone
from typing import Any

logger = logging.getLogger("painel.slow_requests")
# Problems go elsewhere: a line on the records' logger that is no record would be skipped as
# invalid by the exporter.
problems = logging.getLogger(__name__)

# Exemplar labels may hold 128 characters in all (OpenMetrics): "request_id" + "tenant" take
# 16, a tenant at most 64, which leaves 48 for the request id.
REQUEST_ID_MAX_LENGTH = 48


def request_id(request: Any) -> str:
    """The caller's X-Request-ID when it sends one (so logs join up), else a new one."""
    given = request.META.get("HTTP_X_REQUEST_ID")
    if given:
        return given[:REQUEST_ID_MAX_LENGTH]
    return uuid.uuid4().hex


def user_value(request: Any, field: str | None) -> str | None:
    if field is None:
        return None
    try:
        # Reading request.user may be its first read: a session and database look-up.
        user = getattr(request, "user", None)
        if user is None or not getattr(user, "is_authenticated", False):
            return None
        return user.get_username() if field == "username" else str(user.pk)
    except Exception:
        # The record goes out without the user rather than the request failing over it.
        problems.warning("painel: could not read the user of a slow request", exc_info=True)
        return None


def log_slow_request(
    *,
    endpoint: str,
    method: str,
    tenant: str,
    user: str | None,
    status: int,
    duration: float,
    request_id: str,
) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return
    record = {
        "endpoint": endpoint,
        "method": method,
        "tenant": tenant,
        "user": user,
        "status": status,
        "duration_seconds": round(duration, 6),
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        "request_id": request_id,
    }
    logger.info(json.dumps(record))
