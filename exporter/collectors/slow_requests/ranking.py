"""The N slowest requests of a sliding time window, in bounded memory.

Keeping only the current top N would be wrong: when the slowest expires, the next in line
may be one we threw away. Keeping every request of the window is unbounded. A request can
only ever return to the top N while fewer than N requests are both slower and newer than
it (those outlive it in the window), so a request beaten by N such is dropped for good.
That keeps the set tiny for real traffic; `max_candidates` caps the pathological case (a
long run of ever faster requests) by dropping the fastest, the least likely to matter.
"""

from __future__ import annotations

from bisect import bisect_left, insort
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
    """Candidates kept sorted by duration, so that a request arriving in time order (the
    usual case) touches only the faster ones: adding costs the number of candidates it
    beats, not the number kept (a slowly improving latency would keep 1,000)."""

    def __init__(self, size: int = 10, window: float = 86400.0, max_candidates: int = 1000):
        self.size = size
        self.window = window
        self.max_candidates = max_candidates
        self._candidates: list[_Candidate] = []  # fastest first
        # bounds on the candidates' timestamps: nothing newer than _newest, nothing older
        # than _oldest (dropping candidates keeps them true)
        self._newest = float("-inf")
        self._oldest = float("inf")

    def __len__(self) -> int:
        return len(self._candidates)

    def add(self, request: SlowRequest, now: float) -> None:
        self._expire(now)
        if request.timestamp < now - self.window:
            return
        candidates = self._candidates
        if request.timestamp > self._newest:
            # newer than every candidate: none beats it, it beats every faster one
            beaten = 0
            faster = bisect_left(candidates, request.duration, key=_duration)
            beats = candidates[:faster]
        else:
            beaten = sum(
                1
                for c in candidates
                if c.request.duration > request.duration
                and c.request.timestamp >= request.timestamp
            )
            if beaten >= self.size:
                return
            beats = [
                c
                for c in candidates
                if c.request.duration < request.duration
                and c.request.timestamp <= request.timestamp
            ]
        if beats:
            for c in beats:
                c.beaten += 1
            if any(c.beaten >= self.size for c in beats):
                candidates[:] = [c for c in candidates if c.beaten < self.size]
        insort(candidates, _Candidate(request, beaten), key=_order)
        if len(candidates) > self.max_candidates:
            del candidates[0]  # the fastest, the least likely to matter
        self._newest = max(self._newest, request.timestamp)
        self._oldest = min(self._oldest, request.timestamp)

    def top(self, now: float) -> list[SlowRequest]:
        """The slowest first; one entry per label set (a client may reuse a request id)."""
        self._expire(now)
        seen: set[tuple[str, ...]] = set()
        result: list[SlowRequest] = []
        for candidate in reversed(self._candidates):
            request = candidate.request
            if request.labels() in seen:
                continue
            seen.add(request.labels())
            result.append(request)
            if len(result) == self.size:
                break
        return result

    def _expire(self, now: float) -> None:
        oldest = now - self.window
        if self._oldest >= oldest:
            return
        self._candidates = [c for c in self._candidates if c.request.timestamp >= oldest]
        self._oldest = min((c.request.timestamp for c in self._candidates), default=float("inf"))


def _duration(candidate: _Candidate) -> float:
    return candidate.request.duration


def _order(candidate: _Candidate) -> tuple[float, float]:
    return (candidate.request.duration, candidate.request.timestamp)
