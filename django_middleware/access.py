"""Who may read /metrics: an optional IP allow-list, bearer token and basic auth."""

from __future__ import annotations

import base64
import hmac
import ipaddress
from typing import Any

from django.http import HttpResponse

from .conf import Settings


def _client_allowed(request: Any, settings: Settings) -> bool:
    if not settings.metrics_allowed_networks:
        return True
    # REMOTE_ADDR only: X-Forwarded-For is whatever the client chose to send.
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    # A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d: match them as IPv4 too.
    addresses = [address]
    if address.version == 6 and address.ipv4_mapped is not None:
        addresses.append(address.ipv4_mapped)
    return any(a in network for a in addresses for network in settings.metrics_allowed_networks)


def _credentials_ok(request: Any, settings: Settings) -> bool:
    token, basic = settings.metrics_bearer_token, settings.metrics_basic_auth
    if token is None and basic is None:
        return True
    scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    scheme = scheme.lower()
    if token is not None and scheme == "bearer":
        return hmac.compare_digest(value.strip().encode(), token.encode())
    if basic is not None and scheme == "basic":
        try:
            user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except ValueError:  # not base64 (binascii.Error), not ASCII, not UTF-8 underneath
            return False
        # Both compared every time, so the answer's timing does not tell which part was wrong.
        user_ok = hmac.compare_digest(user.encode(), basic[0].encode())
        password_ok = hmac.compare_digest(password.encode(), basic[1].encode())
        return user_ok and password_ok
    return False


def denied(request: Any, settings: Settings) -> HttpResponse | None:
    """The refusal to send, or None when the request may read /metrics."""
    if not _client_allowed(request, settings):
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    if not _credentials_ok(request, settings):
        response = HttpResponse("unauthorized\n", status=401, content_type="text/plain")
        challenges = []
        if settings.metrics_bearer_token is not None:
            challenges.append('Bearer realm="metrics"')
        if settings.metrics_basic_auth is not None:
            challenges.append('Basic realm="metrics"')
        response["WWW-Authenticate"] = ", ".join(challenges)
        return response
    return None
