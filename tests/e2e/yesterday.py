"""Yesterday's data for the day-over-day panels, written the way an operator would backfill it.

1. The app's raw series at the same time yesterday (a steady, known traffic) as OpenMetrics,
   turned into blocks by `promtool tsdb create-blocks-from openmetrics` before Prometheus
   starts (PrometheusServer.backfill).
2. The recording rules evaluated over that past hour by `promtool tsdb create-blocks-from
   rules` against the running Prometheus, whose blocks are moved into its data directory
   and loaded by a restart: the day-over-day panels read recorded series, which Prometheus
   only records live.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from django_middleware.conf import DEFAULT_BUCKETS
from local_services.prometheus import PrometheusServer, repository_rule_files

DAY = 86400
BUCKETS = DEFAULT_BUCKETS  # the demo's histogram, as the middleware makes it
HALF_WINDOW = 40 * 60  # yesterday's data covers the test's now-1d, whenever it queries
STEP = 15  # yesterday's scrape interval


@dataclass(frozen=True)
class Traffic:
    method: str
    endpoint: str
    tenant: str
    status: str
    per_second: float
    duration: float  # every request took this long


YESTERDAY = (
    Traffic("GET", "/api/v1/orders/", "acme", "200", 2.0, 0.02),
    Traffic("GET", "/api/v1/orders/", "globex", "200", 1.0, 0.03),
    Traffic("GET", "/api/v1/reports/<slug:name>/", "acme", "200", 0.1, 0.8),
    Traffic("POST", "/api/v1/checkout/", "acme", "500", 0.2, 0.04),
)


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def app_openmetrics(instance: str, now: float, traffic=YESTERDAY) -> str:
    """Counters and the duration histogram of `traffic` around now - 1 day, job="django"."""
    start = int(now - DAY - HALF_WINDOW)
    times = range(start, start + 2 * HALF_WINDOW + 1, STEP)
    lines = ["# TYPE django_http_requests counter"]
    for t in traffic:
        labels = _labels(
            job="django",
            instance=instance,
            method=t.method,
            endpoint=t.endpoint,
            tenant=t.tenant,
            status=t.status,
        )
        for ts in times:
            lines.append(f"django_http_requests_total{labels} {t.per_second * (ts - start)} {ts}")
    lines.append("# TYPE django_http_request_duration_seconds histogram")
    # One histogram per (method, endpoint, tenant): sum the traffic that shares it.
    histograms: dict[tuple[str, str, str], list[Traffic]] = {}
    for t in traffic:
        histograms.setdefault((t.method, t.endpoint, t.tenant), []).append(t)
    for (method, endpoint, tenant), parts in histograms.items():
        base = dict(job="django", instance=instance, method=method, endpoint=endpoint)
        base["tenant"] = tenant
        for ts in times:
            elapsed = ts - start
            for bound in (*BUCKETS, "+Inf"):
                count = sum(
                    p.per_second * elapsed for p in parts if bound == "+Inf" or p.duration <= bound
                )
                le = bound if bound == "+Inf" else repr(float(bound))
                lines.append(
                    f"django_http_request_duration_seconds_bucket{_labels(**base, le=le)} {count} {ts}"
                )
            total = sum(p.per_second * elapsed for p in parts)
            seconds = sum(p.per_second * elapsed * p.duration for p in parts)
            lines.append(
                f"django_http_request_duration_seconds_count{_labels(**base)} {total} {ts}"
            )
            lines.append(
                f"django_http_request_duration_seconds_sum{_labels(**base)} {seconds} {ts}"
            )
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def expected_yesterday_rate(traffic=YESTERDAY, status_class: str | None = None) -> float:
    return sum(
        t.per_second for t in traffic if status_class is None or t.status.startswith(status_class)
    )


def expected_yesterday_mean_duration(traffic=YESTERDAY) -> float:
    return sum(t.per_second * t.duration for t in traffic) / expected_yesterday_rate(traffic)


def backfill_recording_rules(prometheus: PrometheusServer, now: float) -> str:
    """Evaluate painel's recording rules over yesterday's window into Prometheus' blocks."""
    recording_only = prometheus.workdir / "recording-rules-backfill.yml"
    groups = []
    for path in repository_rule_files():
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", []):
            rules = [r for r in group.get("rules", []) if "record" in r]
            if rules:
                groups.append({**group, "rules": rules})
    recording_only.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    report = prometheus.backfill_rules(
        recording_only,
        start=int(now - DAY - HALF_WINDOW + 5 * 60),
        end=int(now - DAY + HALF_WINDOW),
        eval_interval=f"{STEP}s",
    )
    prometheus.restart()
    return report
