"""The PAINEL setting: defaults, validation, and the one validated copy the rest reads.

Everything is checked once, at start-up (apps.py), so a typo fails with a message that names
the key and what is allowed instead of surfacing as wrong labels under traffic.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

DEFAULTS: dict[str, Any] = {
    "TENANT_HEADER": "X-Tenant-ID",
    "TENANT_RESOLVER": None,
    "MAX_TENANTS": 200,
    "TENANT_LATENCY": "per_endpoint",
    "SLOW_REQUEST_THRESHOLD": 0.5,
    "BUCKETS": DEFAULT_BUCKETS,
    "EXCLUDED_PATHS": ("/metrics", "/health"),
    "USER_FIELD": "id",
    "METRICS_BEARER_TOKEN": None,
    "METRICS_BASIC_AUTH": None,
    "METRICS_ALLOWED_IPS": (),
    "HEALTH_CHECKS": (),
    "HEALTH_TIMEOUT": 2.0,
    "MAX_SCRAPE_INTERVAL": 60.0,
}

USER_FIELDS = ("id", "username", None)
# Which latency series carry the tenant (the series budget, README "Series budget"):
# per_endpoint: the duration histogram and the slow counter by method, endpoint and tenant;
# per_tenant: those by method and endpoint, plus a histogram by tenant alone;
# off: those by method and endpoint, no latency per tenant.
TENANT_LATENCIES = ("per_endpoint", "per_tenant", "off")


@dataclass(frozen=True)
class Settings:
    tenant_header: str
    tenant_meta_key: str  # the header as Django stores it in request.META
    tenant_resolver: Callable[[Any], Any] | None
    max_tenants: int
    tenant_latency: str  # one of TENANT_LATENCIES
    slow_request_threshold: float
    buckets: tuple[float, ...]
    excluded_paths: frozenset[str]
    excluded_prefixes: tuple[str, ...]  # entries ending in "/" exclude everything below them
    user_field: str | None
    # Kept out of repr(): settings end up in logs and tracebacks, credentials must not.
    metrics_bearer_token: str | None = field(repr=False)
    metrics_basic_auth: tuple[str, str] | None = field(repr=False)
    metrics_allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    health_checks: tuple[tuple[str, Callable[[], Any]], ...]
    health_timeout: float
    max_scrape_interval: float  # seconds a new series reads 0 (painel.new_series); 0: off


def _fail(key: str, problem: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"PAINEL[{key!r}] {problem}")


def _number(key: str, value: Any, *, minimum: float = 0.0, zero: bool = False) -> float:
    """A finite number above `minimum`; with `zero`, 0 too (a feature turned off)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(key, f"must be a number of seconds, got {value!r}")
    if value <= minimum and not (zero and value == 0):
        allowed = "0 or greater than" if zero else "greater than"
        raise _fail(key, f"must be {allowed} {minimum:g}, got {value!r}")
    return float(value)


def _string_or_none(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise _fail(key, f"must be a non-empty string or None, got {value!r}")
    return value


def _string_list(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset):
        raise _fail(key, f"must be a list of strings, got {value!r}")
    for item in value:
        if not isinstance(item, str) or not item:
            raise _fail(key, f"must be a list of non-empty strings, got item {item!r}")
    return tuple(value)


def _callable(key: str, dotted: str) -> Callable:
    try:
        target = import_string(dotted)
    except ImportError as exc:
        raise _fail(key, f"cannot import {dotted!r}: {exc}") from exc
    if not callable(target):
        raise _fail(key, f"{dotted!r} is not callable")
    return target


def _buckets(value: Any) -> tuple[float, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
        raise _fail("BUCKETS", f"must be a non-empty list of seconds, got {value!r}")
    bounds = tuple(_number("BUCKETS", bound) for bound in value if bound != math.inf)
    if list(bounds) != sorted(set(bounds)):
        raise _fail("BUCKETS", f"must be strictly increasing, got {value!r}")
    return bounds


def _networks(value: Any) -> tuple:
    networks = []
    for item in _string_list("METRICS_ALLOWED_IPS", value):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise _fail(
                "METRICS_ALLOWED_IPS", f"has {item!r}, which is not an IP address or CIDR"
            ) from exc
    return tuple(networks)


def _basic_auth(value: Any) -> tuple[str, str] | None:
    value = _string_or_none("METRICS_BASIC_AUTH", value)
    if value is None:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise _fail("METRICS_BASIC_AUTH", "must be 'user:password' with both parts non-empty")
    return user, password


def _health_checks(value: Any) -> tuple[tuple[str, Callable], ...]:
    checks = []
    for dotted in _string_list("HEALTH_CHECKS", value):
        check = _callable("HEALTH_CHECKS", dotted)
        checks.append((getattr(check, "health_check_name", dotted.rsplit(".", 1)[-1]), check))
    return tuple(checks)


def build(raw: Any) -> Settings:
    """Validate a PAINEL dict (missing keys take their defaults) into Settings."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ImproperlyConfigured(f"PAINEL must be a dict, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(DEFAULTS))
    if unknown:
        raise ImproperlyConfigured(
            f"PAINEL has unknown key(s) {', '.join(map(repr, unknown))}; "
            f"allowed keys: {', '.join(DEFAULTS)}"
        )
    values = {**DEFAULTS, **raw}

    header = _string_or_none("TENANT_HEADER", values["TENANT_HEADER"])
    # Letters, digits and dashes only: WSGI servers drop headers with underscores, and a name
    # with spaces could never arrive, so the tenant would silently always be <none>.
    if header is None or not re.fullmatch(r"[A-Za-z0-9]+(-[A-Za-z0-9]+)*", header):
        raise _fail(
            "TENANT_HEADER",
            f"must be a header name of letters, digits and dashes such as 'X-Tenant-ID', "
            f"got {header!r}",
        )
    resolver = _string_or_none("TENANT_RESOLVER", values["TENANT_RESOLVER"])

    max_tenants = values["MAX_TENANTS"]
    if isinstance(max_tenants, bool) or not isinstance(max_tenants, int) or max_tenants < 1:
        raise _fail("MAX_TENANTS", f"must be a positive integer, got {max_tenants!r}")

    tenant_latency = values["TENANT_LATENCY"]
    if tenant_latency not in TENANT_LATENCIES:
        raise _fail(
            "TENANT_LATENCY",
            f"must be one of {', '.join(map(repr, TENANT_LATENCIES))}, got {tenant_latency!r}",
        )

    buckets = _buckets(values["BUCKETS"])
    threshold = _number("SLOW_REQUEST_THRESHOLD", values["SLOW_REQUEST_THRESHOLD"])
    if threshold not in buckets:
        raise _fail(
            "SLOW_REQUEST_THRESHOLD",
            f"must be one of the BUCKETS bounds {list(buckets)} (so slow requests can be "
            f"read from the histogram), got {threshold!r}",
        )

    excluded = _string_list("EXCLUDED_PATHS", values["EXCLUDED_PATHS"])
    for path in excluded:
        if not path.startswith("/"):
            raise _fail("EXCLUDED_PATHS", f"entries must start with '/', got {path!r}")

    user_field = values["USER_FIELD"]
    if user_field not in USER_FIELDS:
        raise _fail("USER_FIELD", f"must be 'id', 'username' or None, got {user_field!r}")

    return Settings(
        tenant_header=header,
        tenant_meta_key="HTTP_" + header.upper().replace("-", "_"),
        tenant_resolver=_callable("TENANT_RESOLVER", resolver) if resolver else None,
        max_tenants=max_tenants,
        tenant_latency=tenant_latency,
        slow_request_threshold=threshold,
        buckets=buckets,
        excluded_paths=frozenset(p for p in excluded if not p.endswith("/")),
        excluded_prefixes=tuple(p for p in excluded if p.endswith("/")),
        user_field=user_field,
        metrics_bearer_token=_string_or_none(
            "METRICS_BEARER_TOKEN", values["METRICS_BEARER_TOKEN"]
        ),
        metrics_basic_auth=_basic_auth(values["METRICS_BASIC_AUTH"]),
        metrics_allowed_networks=_networks(values["METRICS_ALLOWED_IPS"]),
        health_checks=_health_checks(values["HEALTH_CHECKS"]),
        health_timeout=_number("HEALTH_TIMEOUT", values["HEALTH_TIMEOUT"]),
        max_scrape_interval=_number(
            "MAX_SCRAPE_INTERVAL", values["MAX_SCRAPE_INTERVAL"], zero=True
        ),
    )


_current: Settings | None = None


def get() -> Settings:
    """The validated PAINEL setting, built on first use and kept until settings change."""
    global _current
    if _current is None:
        _current = build(getattr(django_settings, "PAINEL", None))
    return _current


def _reset(*, setting: str, **kwargs: Any) -> None:
    global _current
    if setting == "PAINEL":
        _current = None


# Tests switch settings with override_settings; production never changes them at runtime.
setting_changed.connect(_reset, dispatch_uid="painel-conf-reset")
