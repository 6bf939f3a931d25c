"""Load for the demo shop: `python -m demo.load --url http://127.0.0.1:8000`.

A fixed mix of calls over a few tenants (header and subdomain), bounded in count and in
time, paced to a rate, with a progress line. It tallies what it sent and what came back
per method, endpoint (route pattern), tenant and status, so the dashboards can be
checked against it (--summary writes the tally as JSON).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

HEADER_TENANTS = ("acme", "globex", "initech")
SUBDOMAIN_TENANT = "umbrella"  # sent as umbrella.localhost, resolved from the Host header
NO_TENANT = "<none>"
TENANTS = (*HEADER_TENANTS, SUBDOMAIN_TENANT, NO_TENANT)


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    endpoint: str  # the route pattern, as the middleware labels it
    tenant: str  # as the middleware labels it
    kind: str = ""  # which entry of MIX it comes from
    headers: tuple[tuple[str, str], ...] = ()


def _tenant_headers(tenant: str, port: int | None) -> tuple[tuple[str, str], ...]:
    if tenant == NO_TENANT:
        return ()
    user = ("X-User", f"{tenant}-admin")  # the demo's stand-in for a login
    if tenant == SUBDOMAIN_TENANT:
        return (("Host", f"{tenant}.localhost" + (f":{port}" if port else "")), user)
    return (("X-Tenant-ID", tenant), user)


# (kind, weight, method, path template, route pattern); {n} is a number drawn per call.
# The load decides which checkouts fail (?fail=1, one in five), so a run is reproducible.
MIX = (
    ("list", 30, "GET", "/api/v1/orders/", "/api/v1/orders/"),
    ("detail", 20, "GET", "/api/v1/orders/{n}/", "/api/v1/orders/<int:pk>/"),
    ("missing", 4, "GET", "/api/v1/orders/{n}00/", "/api/v1/orders/<int:pk>/"),  # a 404
    ("inventory", 10, "GET", "/api/v1/inventory/", "/api/v1/inventory/"),
    ("checkout", 8, "POST", "/api/v1/checkout/?fail=0", "/api/v1/checkout/"),
    ("checkout-fails", 2, "POST", "/api/v1/checkout/?fail=1", "/api/v1/checkout/"),
    ("report", 3, "GET", "/api/v1/reports/revenue/", "/api/v1/reports/<slug:name>/"),
    ("refund", 3, "GET", "/api/v1/payments/{n}/refund/", "/api/v1/payments/<int:pk>/refund/"),
    ("invoice", 6, "POST", "/api/v1/orders/{n}/invoice/", "/api/v1/orders/<int:pk>/invoice/"),
    ("sync", 3, "POST", "/api/v1/inventory/sync/", "/api/v1/inventory/sync/"),
    ("capture", 3, "POST", "/api/v1/payments/{n}/capture/", "/api/v1/payments/<int:pk>/capture/"),
    ("unmatched", 2, "GET", "/no/such/page/", "<unmatched>"),
)


def iter_plan(count: int, seed: int = 0, port: int | None = None) -> Iterator[Call]:
    """The same calls for the same count and seed, so a run can be repeated exactly.

    Made one at a time as they are sent: a day of load (a million calls) held in a list
    would take some 350 MB.
    """
    rng = random.Random(seed)
    weights = [entry[1] for entry in MIX]
    for _ in range(count):
        kind, _, method, template, endpoint = rng.choices(MIX, weights=weights)[0]
        tenant = rng.choice(TENANTS)
        path = template.format(n=rng.randint(1, 9))
        yield Call(method, path, endpoint, tenant, kind, _tenant_headers(tenant, port))


def plan(count: int, seed: int = 0, port: int | None = None) -> list[Call]:
    """iter_plan as a list, for a plan small enough to hold and compare."""
    return list(iter_plan(count, seed, port))


def every_kind(port: int | None = None) -> list[Call]:
    """One call of each kind for each tenant: after it, every series the load touches exists."""
    return [
        Call(method, template.format(n=2), endpoint, tenant, kind, _tenant_headers(tenant, port))
        for kind, _, method, template, endpoint in MIX
        for tenant in TENANTS
    ]


@dataclass
class Tally:
    """What was sent and what came back; thread-safe."""

    responses: Counter = field(default_factory=Counter)  # (method, endpoint, tenant, status)
    kinds: Counter = field(default_factory=Counter)  # (kind, status)
    failures: int = 0  # no answer at all (connection refused, timeout)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, call: Call, status: int | None) -> None:
        with self.lock:
            if status is None:
                self.failures += 1
            else:
                self.responses[(call.method, call.endpoint, call.tenant, status)] += 1
                self.kinds[(call.kind, status)] += 1

    @property
    def sent(self) -> int:
        return sum(self.responses.values()) + self.failures

    def count(self, **match: object) -> int:
        """Responses whose fields equal the given ones, e.g. count(endpoint=..., status=500)."""
        keys = ("method", "endpoint", "tenant", "status")
        return sum(
            n
            for key, n in self.responses.items()
            if all(dict(zip(keys, key, strict=True))[k] == v for k, v in match.items())
        )

    def by_status_class(self) -> dict[str, int]:
        classes: Counter = Counter()
        for (_, _, _, status), n in self.responses.items():
            classes[f"{status // 100}xx"] += n
        return dict(classes)

    def as_json(self) -> dict:
        keys = ("method", "endpoint", "tenant", "status")
        rows = [dict(zip(keys, k, strict=True), count=n) for k, n in sorted(self.responses.items())]
        return {"sent": self.sent, "failures": self.failures, "responses": rows}


def check_target(url: str, allowed_hosts: tuple[str, ...] = ()) -> None:
    """Load goes to this machine only, unless a host is named on purpose (compose: app)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host in allowed_hosts:
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise SystemExit(
        f"demo.load: {host!r} is not a loopback address; pass --allow-host {host} if you mean it"
    )


class Progress:
    """One line that rewrites itself on a terminal, and a line every few seconds elsewhere."""

    def __init__(self, total: int, stream=sys.stderr, every: float | None = None) -> None:
        self.total = total
        self.stream = stream
        self.tty = stream.isatty()
        self.every = every if every is not None else (0.5 if self.tty else 5.0)
        self.started = time.monotonic()
        self.last = 0.0
        self.lock = threading.Lock()  # updates come from every sending thread

    def update(self, tally: Tally, final: bool = False) -> None:
        with self.lock:
            now = time.monotonic()
            if not final and now - self.last < self.every:
                return
            self.last = now
            self._write(tally, now, final)

    def _write(self, tally: Tally, now: float, final: bool) -> None:
        elapsed = max(now - self.started, 1e-9)
        classes = " ".join(f"{k} {v}" for k, v in sorted(tally.by_status_class().items()))
        line = (
            f"load: {tally.sent}/{self.total} requests, {tally.sent / elapsed:.1f}/s, "
            f"{classes or 'no answers yet'}, {tally.failures} unanswered"
        )
        if self.tty:
            self.stream.write("\r" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def run(
    url: str,
    calls: Iterable[Call],
    duration: float,
    rate: float | None = None,
    concurrency: int = 4,
    on_progress: Callable[[Tally], None] | None = None,
    stop: threading.Event | None = None,
) -> Tally:
    """Send the calls (all of them, or as many as fit in `duration` seconds, or until
    `stop` is set) and tally what came back.

    `calls` is read as it is sent and at most 2 x `concurrency` calls wait or run at once,
    so memory stays flat however many calls a run has.
    """
    stop = stop or threading.Event()
    tally = Tally()
    deadline = time.monotonic() + duration
    interval = 1.0 / rate if rate else 0.0
    base = url.rstrip("/")
    slots = threading.BoundedSemaphore(2 * concurrency)
    errors: list[Exception] = []  # a bug in a sending thread, raised once the pool is done

    def over() -> bool:
        return stop.is_set() or time.monotonic() > deadline

    def send(client: httpx.Client, call: Call) -> None:
        try:
            if over():
                return
            try:
                response = client.request(call.method, base + call.path, headers=dict(call.headers))
                tally.add(call, response.status_code)
            except httpx.HTTPError:
                tally.add(call, None)
            if on_progress:
                on_progress(tally)
        except Exception as exc:
            errors.append(exc)
        finally:
            slots.release()

    with (
        httpx.Client(timeout=30, limits=httpx.Limits(max_connections=concurrency)) as client,
        ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="load") as pool,
    ):
        next_at = time.monotonic()
        for call in calls:
            if over() or errors:
                break
            if interval:
                next_at += interval
                stop.wait(max(0.0, next_at - time.monotonic()))
            slots.acquire()  # a slot frees when a call is answered
            pool.submit(send, client, call)
    if errors:
        raise errors[0]
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.load", description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the demo app")
    parser.add_argument("--requests", type=int, default=2000, help="stop after this many")
    parser.add_argument("--duration", type=float, default=300.0, help="stop after this many s")
    parser.add_argument(
        "--rate", type=float, default=20.0, help="requests per second, 0: no pacing"
    )
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--summary", help="write the tally as JSON to this file")
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        help="a non-loopback host that may be loaded (docker compose: app)",
    )
    args = parser.parse_args(argv)
    if args.requests <= 0 or args.duration <= 0 or args.concurrency <= 0 or args.rate < 0:
        parser.error("--requests, --duration and --concurrency must be positive, --rate >= 0")
    check_target(args.url, tuple(args.allow_host))

    calls = iter_plan(args.requests, args.seed, urlsplit(args.url).port)
    progress = Progress(args.requests)
    tally = run(
        args.url, calls, args.duration, args.rate or None, args.concurrency, progress.update
    )
    progress.update(tally, final=True)
    if args.summary:
        with open(args.summary, "w") as out:
            json.dump(tally.as_json(), out, indent=1)
    return 0 if tally.sent else 1


if __name__ == "__main__":
    sys.exit(main())
