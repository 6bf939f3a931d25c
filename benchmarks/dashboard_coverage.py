"""How much of the community's node, Redis and Celery dashboards and alerts painel answers.

Run by hand, with dashboard JSON files and mixin alert and recording rule files (rendered
to YAML) that you fetched yourself; nothing fetched is kept in this repository:

    .venv/bin/python -m benchmarks.dashboard_coverage \
        --node node-exporter-full.json --node node-mixin-alerts.yml \
        --node nodes.json --node node-rsrc-use.json --node-rules node-mixin-rules.yml \
        --redis redis-exporter-dashboard.json --redis redis-mixin-alerts.yml \
        --celery celery-tasks-overview.json --celery-exporter-python celery-exporter-venv/bin/python

One Prometheus scrapes Debian's prometheus-node-exporter (job `node`), its
prometheus-redis-exporter (job `redis`) and painel-exporter (job `painel`, system and redis
collectors) on the same host and the same redis-server. With --celery, a Celery worker
runs tasks on that redis-server as broker, painel-exporter's celery collector receives
its events, and so does danihodovic's celery-exporter (job `celery`) if
--celery-exporter-python names a python that has it (PyPI `prometheus-exporter-celery`).
For a dashboard, each side gets its template variables filled from its own series (the job
variable set to its job), then every panel query is run; a query counts as answered when
it returns data. A mixin's selector rendered into its queries (`job="node"`) is pointed at
`job="painel"` on painel's side, as its README says to do; so are the --node-rules, which
Prometheus evaluates for both jobs. For an alert file, a rule counts when every
node_*/redis_*/celery_* metric its expression reads exists on that side (an alert that is
not firing returns nothing, so evaluating it would prove nothing).
Prints, per file, how many the real exporter answers and how many of those painel answers;
for Celery without celery-exporter, painel's answered count only.
"""

from __future__ import annotations

import argparse
import contextlib
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

from local_services.celery import CeleryWorker
from local_services.celery_exporter import CeleryExporterProcess
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
METRIC = re.compile(r"\b((?:node|redis|celery)_[A-Za-z0-9_]+)")
# what the worker runs while Prometheus scrapes: every outcome a Celery dashboard counts
CELERY_TASKS = ("painel.succeed", "painel.fail", "painel.flaky", "painel.reject")
# celery-exporter asks the workers over the broker during a scrape: about 2 s
SLOW_JOBS = {"celery": {"scrape_interval": "5s", "scrape_timeout": "4s"}}
LABEL_VALUES = re.compile(r"label_values\((?:(?P<selector>.*),\s*)?(?P<label>\w+)\s*\)\s*$")


class Prometheus:
    def __init__(self, workdir: Path, jobs: dict[str, str], rule_files: list[Path]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(path) for path in rule_files],
            "scrape_configs": [
                {
                    "job_name": job,
                    "static_configs": [{"targets": [target]}],
                    **SLOW_JOBS.get(job, {}),
                }
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


def point_at(text: str, real_job: str, job: str) -> str:
    """A mixin's selector for the real exporter's job, rendered into `text`, set to `job`."""
    return text.replace(f'job="{real_job}"', f'job="{job}"')


def substitute(expr: str, values: dict[str, str]) -> str:
    def one(match: re.Match) -> str:
        name = match.group("a") or match.group("b") or match.group("c")
        return values.get(name, match.group(0))

    return re.sub(r"\$\{(?P<a>\w+)(?::\w+)?\}|\[\[(?P<b>\w+)\]\]|\$(?P<c>\w+)", one, expr)


def fill_variables(
    prometheus: Prometheus, dashboard: dict, real_job: str, job: str
) -> dict[str, str]:
    values = dict(BUILTINS)
    for variable in dashboard.get("templating", {}).get("list", []):
        name, kind = variable["name"], variable.get("type")
        query = variable.get("query")
        query = query.get("query", "") if isinstance(query, dict) else query or ""
        query = point_at(query, real_job, job)
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


def dashboard_coverage(
    prometheus: Prometheus, path: Path, real_job: str, compare: bool
) -> tuple[int, int]:
    dashboard = json.loads(path.read_text())
    jobs = (real_job, "painel") if compare else ("painel",)
    sides = {job: fill_variables(prometheus, dashboard, real_job, job) for job in jobs}

    def answered(expr: str, job: str) -> bool:
        return bool(prometheus.query(substitute(point_at(expr, real_job, job), sides[job])))

    return _count(panel_queries(dashboard), answered, real_job, compare)


def alert_coverage(
    prometheus: Prometheus, path: Path, real_job: str, compare: bool
) -> tuple[int, int]:
    rules = [
        rule["expr"]
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]

    def has_all(expr: str, job: str) -> bool:
        return all(
            prometheus.query(f'count({{__name__="{name}", job="{job}"}})')
            for name in set(METRIC.findall(expr))
        )

    return _count(rules, has_all, real_job, compare)


def _count(exprs: list[str], answered, real_job: str, compare: bool) -> tuple[int, int]:
    """How many `exprs` the real job answers (all, with no real exporter to compare with),
    and how many of those painel answers."""
    real = ours = 0
    for expr in exprs:
        if not compare or answered(expr, real_job):
            real += 1
            ours += answered(expr, "painel")
    return real, ours


def rules_for_both(paths: list[Path], real_job: str, workdir: Path) -> list[Path]:
    """Each recording rule file as given, and a copy pointed at painel's job."""
    copies = []
    for path in paths:
        copy = workdir / f"painel-{path.name}"
        copy.write_text(point_at(path.read_text(), real_job, "painel"))
        copies.append(copy)
    return [*paths, *copies]


def send_tasks(worker: CeleryWorker, seconds: float) -> None:
    """Keep the worker busy with every kind of outcome for `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for task in CELERY_TASKS:
            worker.send(task)
        time.sleep(2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--node", type=Path, action="append", default=[], metavar="FILE")
    parser.add_argument("--node-rules", type=Path, action="append", default=[], metavar="FILE")
    parser.add_argument("--redis", type=Path, action="append", default=[], metavar="FILE")
    parser.add_argument("--celery", type=Path, action="append", default=[], metavar="FILE")
    parser.add_argument("--celery-exporter-python", metavar="PYTHON", help="has celery-exporter")
    parser.add_argument("--settle", type=float, default=70, help="seconds of scrapes first")
    args = parser.parse_args()
    node_binary, missing = node_exporter_binary()
    redis_binary = redis_exporter_binary()
    if node_binary is None or redis_binary is None:
        print(f"cannot compare: {missing or 'no prometheus-redis-exporter'}", file=sys.stderr)
        return 1
    with (
        tempfile.TemporaryDirectory(prefix="painel-coverage-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        workdir = Path(tmp)
        redis = RedisServer(workdir / "redis").start()
        stack.callback(redis.stop)
        redis.client().set("painel:coverage", "1", ex=3600)
        collectors = "system,redis,celery" if args.celery else "system,redis"
        flags = ["--collectors", collectors, "--redis-url", redis.url]
        worker = None
        if args.celery:
            flags += ["--broker-url", redis.url]  # the worker's broker is that redis-server
            worker = CeleryWorker(redis.url, workdir).start()
            stack.callback(worker.stop)
        ours = stack.enter_context(ExporterProcess(workdir, flags))
        node = stack.enter_context(NodeExporterProcess(node_binary, workdir, all_collectors=True))
        redis_exporter = stack.enter_context(
            RedisExporterProcess(redis_binary, workdir, redis.addr)
        )
        jobs = {
            "node": f"127.0.0.1:{node.port}",
            "redis": f"127.0.0.1:{redis_exporter.port}",
            "painel": f"127.0.0.1:{ours.port}",
        }
        compare_celery = bool(args.celery and args.celery_exporter_python)
        if compare_celery:
            celery_exporter = CeleryExporterProcess(args.celery_exporter_python, workdir, redis.url)
            jobs["celery"] = f"127.0.0.1:{stack.enter_context(celery_exporter).port}"
        rules = rules_for_both(args.node_rules, "node", workdir)
        prometheus = stack.enter_context(Prometheus(workdir, jobs, rules))
        # rate() over [1m] needs a minute of samples
        if worker is not None:
            send_tasks(worker, args.settle)
        else:
            time.sleep(args.settle)
        print("| file | answered by the real exporter | of those, by painel |")
        print("|---|---|---|")
        sides = [("node", args.node, True), ("redis", args.redis, True)]
        sides.append(("celery", args.celery, compare_celery))
        for real_job, paths, compare in sides:
            for path in paths:
                yml = path.suffix in (".yml", ".yaml")
                measure = alert_coverage if yml else dashboard_coverage
                real, mine = measure(prometheus, path, real_job, compare)
                share = f" ({mine / real:.0%})" if real else ""
                real_text = str(real) if compare else f"{real} (no {real_job}-exporter: all)"
                print(f"| {path.name} | {real_text} | {mine}{share} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
