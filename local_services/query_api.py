"""The Prometheus HTTP query API, as tests and benchmarks ask it of any server that speaks
it (Prometheus itself, VictoriaMetrics)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from .waiting import wait_until


class QueryAPI:
    """Mixed into a server runner that has a `url`. `post`: ask as Grafana's Prometheus
    data source does (POST, form-encoded) rather than with GET."""

    url: str
    post: bool = False

    def api(self, path: str, **params: Any) -> Any:
        address = f"{self.url}/api/v1/{path}"
        if self.post:
            response = httpx.post(address, data=params, timeout=30)
        else:
            response = httpx.get(address, params=params, timeout=30)
        body = response.json()
        if body.get("status") != "success":
            raise RuntimeError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict]:
        """The instant vector (or scalar as one sample) of `expr`: [{metric, value}]."""
        params = {"query": expr} if at is None else {"query": expr, "time": at}
        data = self.api("query", **params)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        return data["result"]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict]:
        return self.api("query_range", query=expr, start=start, end=end, step=step)["result"]

    def value(self, expr: str, at: float | None = None) -> float | None:
        """The single number `expr` gives, None when empty; more than one series is an error."""
        result = self.query(expr, at)
        if not result:
            return None
        if len(result) > 1:
            raise ValueError(f"{expr} gives {len(result)} series, expected one")
        return float(result[0]["value"][1])

    def wait_until(
        self, check: Callable[[], Any], timeout: float = 60.0, every: float = 0.5, what: str = ""
    ) -> Any:
        """Poll `check` until it returns something truthy; API errors (a query on series that
        are not there yet) count as not yet."""
        return wait_until(
            check, timeout, every, what=what, ignore=(RuntimeError, ValueError, httpx.HTTPError)
        )
