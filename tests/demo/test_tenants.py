"""The demo's tenant resolver: the header first, then the subdomain, else no tenant."""

from __future__ import annotations

import pytest
from django.core.exceptions import DisallowedHost

from demo.tenants import tenant_from_request


class Request:
    """What the resolver reads from a Django request: META and get_host()."""

    def __init__(self, host: str, header: str | None = None) -> None:
        self.META = {"HTTP_X_TENANT_ID": header} if header is not None else {}
        self._host = host

    def get_host(self) -> str:
        if self._host == "evil.example":  # not in ALLOWED_HOSTS
            raise DisallowedHost(f"Invalid HTTP_HOST header: {self._host!r}")
        return self._host


@pytest.mark.parametrize(
    ("host", "header", "tenant"),
    [
        ("acme.localhost:8000", None, "acme"),
        ("acme.shop.example", "globex", "globex"),  # the header wins
        ("localhost:8000", None, None),
        ("127.0.0.1:8000", None, None),
        ("app:8000", None, None),
        ("www.shop.example", None, None),
        ("acme.localhost", "  ", "acme"),  # a blank header is no header
        ("evil.example", None, None),  # Django refuses the host: no tenant, no error
        ("evil.example", "acme", "acme"),
    ],
)
def test_tenant_from_request(host, header, tenant):
    assert tenant_from_request(Request(host, header)) == tenant
