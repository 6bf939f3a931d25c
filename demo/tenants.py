"""Which tenant a request belongs to: the X-Tenant-ID header, else the subdomain."""

from __future__ import annotations

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest

TENANT_HEADER = "HTTP_X_TENANT_ID"
# Hosts whose first label is not a tenant: the bare host, an address, the compose service.
NOT_TENANTS = {"www", "localhost", "app", "127", "[::1]"}


def tenant_from_request(request: HttpRequest) -> str | None:
    header = request.META.get(TENANT_HEADER, "").strip()
    if header:
        return header
    try:
        host = request.get_host()
    except DisallowedHost:
        # Django answers 400 to such a request; a raising resolver would add an error record.
        return None
    labels = host.rsplit(":", 1)[0].split(".")
    if len(labels) >= 2 and labels[0] not in NOT_TENANTS and not labels[0].isdigit():
        return labels[0]
    return None
