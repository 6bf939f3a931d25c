"""The N slowest requests of a sliding time window, in bounded memory.

Keeping only the current top N would be wrong: when the slowest expires, the next in line
may be one we threw away. Keeping every request of the window is unbounded. A request can
only ever return to the top N while fewer than N requests are both slower and newer than
it (those outlive it in the window), so a request beaten by N such is dropped for good.
That keeps the set tiny for real traffic; `max_candidates` caps the pathological case (a
long run of ever faster requests) by dropping the fastest, the least likely to matter.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SlowRequest:
    endpoint: str
    method: str
    tenant: str
    user: str
    request_id: str
    duration: float  # seconds
    timestamp: float  # unix time

    def labels(self) -> tuple[str, str, str, str, str]:
        return (self.endpoint, self.method, self.tenant, self.user, self.request_id)


@dataclass
class _Candidate:
    request: SlowRequest
    beaten: int = field(default=0)  # requests both slower and not older than this one


class SlowestRequests:
    def __init__(self, size: int = 10, window: float = 86400.0, max_candidates: int = 1000):
        self.size = size
        self.window = window
        self.max_candidates = max_candidates
        self._candidates: list[_Candidate] = []

    def __len__(self) -> int:
        return len(self._candidates)

    def add(self, request: SlowRequest, now: float) -> None:
        self._expire(now)
        if request.timestamp < now - self.window:
            return
        beaten = sum(
            1
            for c in self._candidates
            if c.request.duration > request.duration and c.request.timestamp >= request.timestamp
        )
        if beaten >= self.size:
            return
        for c in self._candidates:
            if c.request.duration < request.duration and c.request.timestamp <= request.timestamp:
                c.beaten += 1
        kept = [c for c in self._candidates if c.beaten < self.size]
        kept.append(_Candidate(request, beaten))
        if len(kept) > self.max_candidates:
            kept.remove(min(kept, key=lambda c: c.request.duration))
        self._candidates = kept

    def top(self, now: float) -> list[SlowRequest]:
        """The slowest first; one entry per label set (a client may reuse a request id)."""
        self._expire(now)
        ranked = sorted(
            (c.request for c in self._candidates),
            key=lambda r: (r.duration, r.timestamp),
            reverse=True,
        )
        seen: set[tuple[str, ...]] = set()
        result: list[SlowRequest] = []
        for request in ranked:
            if request.labels() in seen:
                continue
            seen.add(request.labels())
            result.append(request)
            if len(result) == self.size:
                break
        return result

    def _expire(self, now: float) -> None:
        oldest = now - self.window
        if any(c.request.timestamp < oldest for c in self._candidates):
            self._candidates = [c for c in self._candidates if c.request.timestamp >= oldest]
