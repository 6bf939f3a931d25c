"""How much of the community's node and Redis dashboards and alerts painel answers.

Run by hand, with dashboard JSON files and mixin alert files (rendered to YAML) that you
fetched yourself; nothing fetched is kept in this repository:

    .venv/bin/python benchmarks/dashboard_coverage.py \
        --node node-exporter-full.json --node node-mixin-alerts.yml \
        --redis redis-exporter-dashboard.json --redis redis-mixin-alerts.yml

One Prometheus scrapes Debian's prometheus-node-exporter (job `node`), its
prometheus-redis-exporter (job `redis`) and painel-exporter (job `painel`, system and redis
collectors) on the same host and the same redis-server. For a dashboard, each side gets
its template variables filled from its own series (the job variable set to its job), then
every panel query is run; a query counts as answered when it returns data. For an alert
file, a rule counts when every node_*/redis_* metric its expression reads exists on that
side (an alert that is not firing returns nothing, so evaluating it would prove nothing).
Prints, per file, how many the real exporter answers and how many of those painel answers.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

from local_services.exporter import ExporterProcess
from local_services.node_exporter import NodeExporterProcess, node_exporter_binary
from local_services.ports import free_port
from local_services.process import ManagedProcess
from local_services.redis import RedisServer
from local_services.redis_exporter import RedisExporterProcess, redis_exporter_binary
from local_services.waiting import wait_for_port

# Grafana's own variables, set to what a dashboard over the last few minutes would use
BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__range": "5m", "__range_s": "300"}
BUILTINS |= {"__range_ms": "300000", "__interval_ms": "15000"}
METRIC = re.compile(r"\b((?:node|redis)_[A-Za-z0-9_]+)")
LABEL_VALUES = re.compile(r"label_values\((?:(?P<selector>.*),\s*)?(?P<label>\w+)\s*\)\s*$")


class Prometheus:
    def __init__(self, workdir: Path, jobs: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": [target]}]}
                for job, target in jobs.items()
            ],
        }
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        argv = [
            "prometheus",
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        self.process = ManagedProcess(f"prometheus-{self.port}", argv, workdir)

    def __enter__(self) -> Prometheus:
        self.process.start(ready=lambda: wait_for_port(self.port, timeout=30))
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.stop()

    def query(self, expr: str) -> list[dict] | None:
        """The result, or None when Prometheus refused the query."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            with urllib.request.urlopen(url, timeout=30) as answer:
                return json.load(answer)["data"]["result"]
        except urllib.error.HTTPError:
            return None


def substitute(expr: str, values: dict[str, str]) -> str:
    def one(match: re.Match) -> str:
        name = match.group("a") or match.group("b") or match.group("c")
        return values.get(name, match.group(0))

    return re.sub(r"\$\{(?P<a>\w+)(?::\w+)?\}|\[\[(?P<b>\w+)\]\]|\$(?P<c>\w+)", one, expr)


def fill_variables(prometheus: Prometheus, dashboard: dict, job: str) -> dict[str, str]:
    values = dict(BUILTINS)
    for variable in dashboard.get("templating", {}).get("list", []):
        name, kind = variable["name"], variable.get("type")
        query = variable.get("query")
        query = query.get("query", "") if isinstance(query, dict) else query or ""
        if kind == "datasource":
            values[name] = "prometheus"
            continue
        match = LABEL_VALUES.match(query.strip()) if kind == "query" else None
        if match is None:  # custom, constant, interval: the dashboard's own current value
            current = variable.get("current", {}).get("value") or query.split(",")[0]
            values[name] = current[0] if isinstance(current, list) else str(current)
            continue
        if match.group("label") == "job":
            values[name] = job
            continue
        selector = substitute(match.group("selector") or "up", values)
        result = prometheus.query(f"group by ({match.group('label')}) ({selector})") or []
        found = sorted(r["metric"].get(match.group("label"), "") for r in result)
        # a picker lists every job's values: take one of this side's
        values[name] = _this_side(prometheus, found, match.group("label"), job)
    return values


def _this_side(prometheus: Prometheus, found: list[str], label: str, job: str) -> str:
    """Of a picker's values, the first one seen on `job`'s series."""
    for value in found:
        if prometheus.query(f'count({{job="{job}", {label}="{value}"}})'):
            return value
    return found[0] if found else ""


def panel_queries(dashboard: dict) -> list[str]:
    queries = []

    def walk(panels: list[dict]) -> None:
        for panel in panels:
            walk(panel.get("panels", []))
            queries.extend(t["expr"] for t in panel.get("targets", []) if t.get("expr"))

    walk(dashboard.get("panels", []))
    for row in dashboard.get("rows", []):  # the old layout
        walk(row.get("panels", []))
    return queries


def dashboard_coverage(prometheus: Prometheus, path: Path, real_job: str) -> tuple[int, int]:
    dashboard = json.loads(path.read_text())
    queries = panel_queries(dashboard)
    sides = {job: fill_variables(prometheus, dashboard, job) for job in (real_job, "painel")}
    real = ours = 0
    for expr in queries:
        if prometheus.query(substitute(expr, sides[real_job])):
            real += 1
            ours += bool(prometheus.query(substitute(expr, sides["painel"])))
    return real, ours


def alert_coverage(prometheus: Prometheus, path: Path, real_job: str) -> tuple[int, int]:
    rules = [
        rule
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]

    def has_all(expr: str, job: str) -> bool:
        return all(
            prometheus.query(f'count({{__name__="{name}", job="{job}"}})')
            for name in set(METRIC.findall(expr))
        )

    real = ours = 0
    for rule in rules:
        if has_all(rule["expr"], real_job):
            real += 1
            ours += has_all(rule["expr"], "painel")
    return real, ours


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--node", type=Path, action="append", default=[], metavar="FILE")
    parser.add_argument("--redis", type=Path, action="append", default=[], metavar="FILE")
    parser.add_argument("--settle", type=float, default=70, help="seconds of scrapes first")
    args = parser.parse_args()
    node_binary, missing = node_exporter_binary()
    redis_binary = redis_exporter_binary()
    if node_binary is None or redis_binary is None:
        print(f"cannot compare: {missing or 'no prometheus-redis-exporter'}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="painel-coverage-") as tmp:
        workdir = Path(tmp)
        redis = RedisServer(workdir / "redis").start()
        try:
            redis.client().set("painel:coverage", "1", ex=3600)
            flags = ["--collectors", "system,redis", "--redis-url", redis.url]
            with (
                ExporterProcess(workdir, flags) as ours,
                NodeExporterProcess(node_binary, workdir, all_collectors=True) as node,
                RedisExporterProcess(redis_binary, workdir, redis.addr) as redis_exporter,
            ):
                jobs = {
                    "node": f"127.0.0.1:{node.port}",
                    "redis": f"127.0.0.1:{redis_exporter.port}",
                    "painel": f"127.0.0.1:{ours.port}",
                }
                with Prometheus(workdir, jobs) as prometheus:
                    time.sleep(args.settle)  # rate() over [1m] needs a minute of samples
                    print("| file | answered by the real exporter | of those, by painel |")
                    print("|---|---|---|")
                    for real_job, paths in (("node", args.node), ("redis", args.redis)):
                        for path in paths:
                            measure = (
                                alert_coverage
                                if path.suffix in (".yml", ".yaml")
                                else (dashboard_coverage)
                            )
                            real, mine = measure(prometheus, path, real_job)
                            share = f" ({mine / real:.0%})" if real else ""
                            print(f"| {path.name} | {real} | {mine}{share} |")
        finally:
            redis.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
