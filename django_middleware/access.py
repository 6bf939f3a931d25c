"""Who may read /metrics: an optional IP allow-list, then bearer token and basic auth."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.http import HttpResponse

from painel.auth import HttpAuth

from .conf import Settings

REALM = "metrics"


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


def denied(request: Any, settings: Settings) -> HttpResponse | None:
    """The refusal to send, or None when the request may read /metrics."""
    if not _client_allowed(request, settings):
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    auth = HttpAuth(settings.metrics_basic_auth, settings.metrics_bearer_token, REALM)
    if not auth.allows(request.META.get("HTTP_AUTHORIZATION")):
        response = HttpResponse("unauthorized\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = auth.challenge()
        return response
    return None
