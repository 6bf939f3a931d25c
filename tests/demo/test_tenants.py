"""The demo's tenant resolver: the header first, then the subdomain, else no tenant."""

from __future__ import annotations

import pytest

from demo.tenants import tenant_from_request


class Request:
    """What the resolver reads from a Django request: META and get_host()."""

    def __init__(self, host: str, header: str | None = None) -> None:
        self.META = {"HTTP_X_TENANT_ID": header} if header is not None else {}
        self._host = host

    def get_host(self) -> str:
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
    ],
)
def test_tenant_from_request(host, header, tenant):
    assert tenant_from_request(Request(host, header)) == tenant
